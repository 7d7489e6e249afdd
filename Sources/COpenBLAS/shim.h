#include <cblas.h>

/* Exported by OpenBLAS (its fork handler uses it) but not declared in cblas.h: stops the worker
   threads it starts when the library loads. A later multi-threaded call starts them again. */
int blas_thread_shutdown_(void);
