/* The front end's stages after the FFT, one call each, for tests that drive a stage with inputs a whole
 * frame cannot reach (every log2 bit position, the power bound 2^52). Not part of the public API: the
 * firmware calls kws_frontend_frame / kws_frontend_push. Ranges as in features/mfcc.py. */
#ifndef KWS_STAGES_H
#define KWS_STAGES_H

#include <stdint.h>

#include "kws_config.h"

/* power: 0 <= power < 2^52 (|2X|^2) -> Q(KWS_MEL_WEIGHT_FRAC_BITS) band sums. */
void kws_stage_mel(const int64_t power[KWS_FFT_BINS], int64_t mel[KWS_NUM_MEL]);
/* 0 <= energy < 2^61 -> log2(energy + 1) in Q(KWS_LOG_FRAC_BITS). */
int16_t kws_stage_log2(int64_t energy);
void kws_stage_dct(const int16_t log_mel[KWS_NUM_MEL], int32_t cep[KWS_NUM_MFCC]);
int8_t kws_stage_quantize(int32_t cepstrum, int coefficient);
/* The FFT stages are in kws_fft.h. */

#endif /* KWS_STAGES_H */
