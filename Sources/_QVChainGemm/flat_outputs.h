// Outputs computed over the flat positions of padded rows (internal to _QVChainGemm): output
// (oy, ox) sits at flat position f = oy·width + ox, so one vector can span several
// output rows; the lanes on border columns (f mod width ≥ ow) are computed and dropped.
#ifndef QV_FLAT_OUTPUTS_H
#define QV_FLAT_OUTPUTS_H

#include <stddef.h>
#include <stdint.h>

// For vector v of `lanes` lanes (16 or 8; flat positions lanes·v…, `flat_len` of them in all):
// keep[v] marks its lanes that are outputs, and out_at[v] is the output index of the first of
// them; the kept lanes are consecutive outputs, so squeezing them together gives a run of
// outputs from out_at[v].
static inline void qv_flat_outputs(size_t flat_len, size_t width, size_t ow, size_t lanes, uint16_t *keep,
                                   size_t *out_at) {
    const size_t vectors = (flat_len + lanes - 1) / lanes;
    for (size_t v = 0; v < vectors; v++) {
        uint16_t m = 0;
        size_t first = SIZE_MAX;
        for (size_t i = 0; i < lanes; i++) {
            const size_t f = lanes * v + i;
            if (f < flat_len && f % width < ow) {
                m |= (uint16_t)(1u << i);
                if (first == SIZE_MAX) first = (f / width) * ow + f % width;
            }
        }
        keep[v] = m;
        out_at[v] = first == SIZE_MAX ? 0 : first;
    }
}

#endif
