#pragma once
// Included by every file of cpu/kernels/: setup.py compiles them once per CPU capability level
// with that level's flags, CPU_CAPABILITY (the level's namespace: DEFAULT, AVX2, AVX512, as
// ATen names them) and CPU_CAPABILITY_<LEVEL> defined.
#ifndef CPU_CAPABILITY
#error "cpu/kernels/*.cpp are compiled once per CPU level by setup.py, with CPU_CAPABILITY set"
#endif
