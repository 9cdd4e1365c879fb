import sgz_fast


def test_build_info_reports_the_binary():
    info = sgz_fast.build_info()
    assert info["extension_loaded"], info["extension_error"]
    assert info["cpu_kernels"] is True
    assert isinstance(info["cuda_compiled"], bool)
    assert isinstance(info["cuda_available"], bool)
    assert info["torch_version"]
    if info["cuda_compiled"]:
        assert info["cuda_arch_list"], "CUDA kernels built but no arch list recorded"
