import QVKernels
