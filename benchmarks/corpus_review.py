"""A person's judgement of each review sample of ``bench_corpus.py``, keyed by sample ID.

Each sample is one written variant: a mutator's rewrite of one site of a real file. The reviewer
read its diff in its file and recorded two answers: is the rewrite the bug the variant claims
(its description, which may be more precise than the mutator's for that site), and does it
change behaviour (not equivalent as written, and not a rewrite that can only crash where a
silent bug is claimed). A sample is precise when both are yes. IDs hash the file, the bug ID, the
description and the diff, so a rewrite or a claim that changes is judged again.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Judgement:
    claims_its_bug: bool
    changes_behaviour: bool
    note: str = ""

    @property
    def precise(self) -> bool:
        return self.claims_its_bug and self.changes_behaviour


def _ok(note: str = "") -> Judgement:
    return Judgement(True, True, note)


def _off(note: str) -> Judgement:
    """The rewrite changes behaviour, but it is not the bug it claims."""
    return Judgement(False, True, note)


def _same(note: str) -> Judgement:
    """The bug it claims, but equivalent as written (or only able to crash)."""
    return Judgement(True, False, note)


#: the corpus (real-world files beside the checkout), one entry per sample
_CORPUS: dict[str, Judgement] = {
    # accumulation_not_divided pytorch-image-models__train.py:1300
    "11b4c2b3fe9d": _ok("the loss returned for backward is no longer divided by accum_steps"),
    # argmax_wrong_axis pytorch-examples__gat__main.py:284
    "2133db6a9eb9": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # argmax_wrong_axis pytorch-examples__mnist__main.py:62
    "1241b26e3de7": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # argmax_wrong_axis pytorch-image-models__validate.py:393
    "40d0547cad86": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # attention_mask_not_passed pytorch-image-models__timm__layers__attention.py:124
    "937f04b1815c": _ok("the attention call loses its mask"),
    # attention_mask_not_passed whisper__whisper__model.py:111
    "f7ac545aaa60": _ok("the attention call loses its mask"),
    # attention_mask_not_passed x-transformers__x_transformers__attend.py:461
    "7d6858e6933e": _ok("the attention call loses its mask"),
    # attention_scale_dropped pytorch-image-models__timm__layers__attention.py:99
    "31c6c83724a0": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_dropped whisper__whisper__model.py:118
    "f169b822acd0": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_dropped pytorch-image-models__timm__layers__attention.py:210
    "cd83b8483b56": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_inverted pytorch-image-models__timm__layers__attention.py:99
    "b38440e8a852": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # attention_scale_inverted whisper__whisper__model.py:118
    "fc1af13a41e5": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # attention_scale_inverted pytorch-image-models__timm__layers__attention.py:210
    "6ce7d72a68e7": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # average_over_padding x-transformers__x_transformers__attend.py:471
    "63082dd53b5a": _ok("masked positions are no longer zeroed before the average"),
    # average_over_padding x-transformers__x_transformers__attend.py:608
    "8cd609f6e6bf": _ok("masked positions are no longer zeroed before the average"),
    # average_over_padding x-transformers__x_transformers__attend.py:647
    "0b12155c836c": _ok("masked positions are no longer zeroed before the average"),
    # buffer_not_registered pytorch-examples__word_language_model__model.py:91
    "33e9167ea45d": _ok("a plain attribute: not moved by .to(), not in the buffers"),
    # buffer_not_registered whisper__whisper__model.py:181
    "2247294f3474": _ok("a plain attribute: not moved by .to(), not in the buffers"),
    # buffer_not_registered whisper__whisper__model.py:276
    "17da917c0d1a": _same(
        "the boolean heads table is only iterated through .indices(): where it lives changes nothing"
    ),
    # causal_mask_off_by_one pytorch-examples__language_translation__src__data.py:99
    "71db20e9bdf3": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_off_by_one pytorch-examples__word_language_model__model.py:123
    "e12e0fc533e9": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_off_by_one pytorch-image-models__timm__layers__attention.py:32
    "0291fe983c0b": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_triu_tril_swapped pytorch-examples__language_translation__src__data.py:99
    "48d69d06aee2": _ok("the other triangle: the model attends to the future"),
    # causal_mask_triu_tril_swapped pytorch-examples__word_language_model__model.py:123
    "91906c79a5de": _ok("the other triangle: the model attends to the future"),
    # causal_mask_triu_tril_swapped pytorch-image-models__timm__layers__attention.py:32
    "c8f89227e60d": _ok("the other triangle: the model attends to the future"),
    # clip_each_tensor_separately pytorch-examples__word_language_model__main.py:189
    "5281c13a2ce3": _ok("one clip per parameter tensor instead of one total norm"),
    # clip_grad_norm_deprecated pytorch-examples__word_language_model__main.py:189
    "59ed986b8ba2": _ok("the deprecated alias: same numbers, a FutureWarning (an error under -W error)"),
    # cross_attention_reads_decoder_input whisper__whisper__model.py:169
    "27983fa7caef": _ok("cross-attention reads the decoder stream"),
    # device_hard_coded pytorch-examples__gat__main.py:48
    "dea4c53708d0": _ok("a tensor pinned to the CPU where it followed a device"),
    # device_hard_coded pytorch-examples__imagenet__main.py:466
    "11b06a3c9bf3": _ok("a tensor pinned to the CPU where it followed a device"),
    # device_hard_coded pytorch-examples__language_translation__src__data.py:99
    "1e3b9f49d3b6": _ok("a tensor pinned to the CPU where it followed a device"),
    # duplicates_across_splits pytorch-examples__gat__main.py:345
    "2a23b9557705": _ok("rows drawn with replacement before the split"),
    # epsilon_missing pytorch-image-models__timm__layers__norm.py:50
    "866c19ef775e": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # epsilon_missing whisper__whisper__model.py:147
    "f232355831c2": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # epsilon_missing x-transformers__x_transformers__autoregressive_wrapper.py:43
    "2b3244628e1e": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # eval_mode_missing pytorch-examples__gat__main.py:278
    "6fe6b34dd66f": _ok("evaluation runs with dropout and batch statistics on"),
    # eval_mode_missing pytorch-examples__imagenet__main.py:360
    "79d95c30f0d9": _ok("evaluation runs with dropout and batch statistics on"),
    # eval_mode_missing pytorch-examples__language_translation__main.py:57
    "009b9a1bf0aa": _ok("evaluation runs with dropout and batch statistics on"),
    # float16_overflow pytorch-examples__vae__main.py:61
    "bdfd83bcee54": _ok("exp in float16: precision loss, inf above about 11"),
    # float16_overflow pytorch-examples__word_language_model__model.py:87
    "15f5fe80a86c": _ok("exp in float16: precision loss, inf above about 11"),
    # float16_overflow whisper__whisper__model.py:66
    "36522f1c6ba9": _ok("exp in float16: precision loss, inf above about 11"),
    # heads_merged_without_transpose pytorch-image-models__timm__layers__attention.py:139
    "285d7a387c13": _ok("heads folded back without swapping axes: positions interleaved"),
    # heads_merged_without_transpose whisper__whisper__model.py:127
    "1422f55444ae": _ok("heads folded back without swapping axes: positions interleaved"),
    # heads_merged_without_transpose pytorch-image-models__timm__layers__attention.py:287
    "123c9c23e3e9": _ok("heads folded back without swapping axes: positions interleaved"),
    # heads_split_without_transpose pytorch-image-models__timm__layers__attention.py:111
    "4a1920859a01": _ok("every split (or the fused permute) keeps heads after the sequence axis"),
    # heads_split_without_transpose pytorch-image-models__timm__layers__attention.py:232
    "bbac4c5ebd16": _ok("every split (or the fused permute) keeps heads after the sequence axis"),
    # key_value_projections_swapped pytorch-image-models__timm__layers__attention.py:258
    "ea7bd6c665f2": _ok("k from v_proj and v from k_proj"),
    # layernorm_eps_outside_sqrt pytorch-image-models__timm__layers__norm.py:168
    "02f8df60f355": _ok("1 / (sqrt(var) + eps) instead of rsqrt(var + eps)"),
    # layernorm_eps_outside_sqrt pytorch-image-models__timm__layers__norm.py:176
    "9d9e5938e5de": _ok("1 / (sqrt(var) + eps) instead of rsqrt(var + eps)"),
    # log_of_softmax pytorch-examples__gat__main.py:203
    "d6c5de90ef48": _ok("log of softmax: -inf once a probability underflows"),
    # log_of_softmax pytorch-examples__mnist__main.py:32
    "decfb196b502": _ok("log of softmax: -inf once a probability underflows"),
    # log_of_softmax pytorch-examples__word_language_model__model.py:54
    "16c8b71fde7a": _ok("log of softmax: -inf once a probability underflows"),
    # loss_accumulated_as_tensor pytorch-examples__language_translation__main.py:144
    "d85381bf7abe": _ok("running total keeps every batch's graph (training, no no_grad)"),
    # loss_accumulated_as_tensor pytorch-examples__vae__main.py:101
    "5637579701a7": _ok("running total keeps every batch's graph (training, no no_grad)"),
    # loss_accumulated_as_tensor pytorch-examples__word_language_model__main.py:196
    "f4fbffc54770": _ok("running total keeps every batch's graph (training, no no_grad)"),
    # loss_kept_as_tensor pytorch-examples__imagenet__main.py:341
    "7edfe38620dd": _ok("the meter keeps the loss tensor and its graph (training)"),
    # lr_sign_flipped pytorch-examples__gat__main.py:265
    "dd0ce997968e": _ok("gradient ascent"),
    # lr_sign_flipped pytorch-examples__imagenet__main.py:347
    "0068c9e56f41": _ok("gradient ascent"),
    # lr_sign_flipped pytorch-examples__language_translation__main.py:138
    "e2a7030b165c": _ok("gradient ascent"),
    # mask_polarity_inverted pytorch-examples__language_translation__src__data.py:100
    "9dd026febdad": _ok("the attention mask applied inverted"),
    # mask_polarity_inverted pytorch-image-models__timm__layers__attention.py:37
    "f908653b6fc5": _ok("the attention mask applied inverted"),
    # mask_polarity_inverted x-transformers__x_transformers__attend.py:152
    "f527cf9f4aee": _ok("the attention mask applied inverted"),
    # masked_fill_zero pytorch-examples__language_translation__src__data.py:100
    "6156ad22a79a": _ok("masked scores (or the additive mask) 0 instead of -inf"),
    # masked_fill_zero pytorch-image-models__timm__layers__attention.py:37
    "a2f7ff78b7b5": _ok("masked scores (or the additive mask) 0 instead of -inf"),
    # masked_fill_zero whisper__whisper__model.py:224
    "3e93bedf24e6": _ok("masked scores (or the additive mask) 0 instead of -inf"),
    # masks_combined_with_or x-transformers__x_transformers__attend.py:150
    "762c54b8fd29": _ok("two may-attend masks OR-ed"),
    # masks_combined_with_or x-transformers__x_transformers__attend.py:400
    "e1d7ebc23bc7": _ok("two may-attend masks OR-ed"),
    # masks_combined_with_or x-transformers__x_transformers__attend.py:407
    "f7183ec519c0": _ok("two may-attend masks OR-ed"),
    # mean_of_batch_means pytorch-examples__imagenet__main.py:341
    "6e884c28400e": _ok("every batch weighs the same whatever its size"),
    # mean_of_batch_means pytorch-examples__mnist__main.py:53
    "f7ec8033822a": _ok("every batch weighs the same whatever its size"),
    # mean_of_batch_means pytorch-image-models__train.py:1384
    "3901d9b208b1": _ok("every batch weighs the same whatever its size"),
    # no_grad_missing pytorch-examples__gat__main.py:279
    "ebce9a50503c": _ok("an evaluation forward pass builds a graph"),
    # no_grad_missing pytorch-examples__imagenet__main.py:369
    "a633febdbe60": _ok("an evaluation forward pass builds a graph"),
    # no_grad_missing pytorch-examples__mnist__main.py:57
    "fd238e4d58c6": _ok("an evaluation forward pass builds a graph"),
    # padding_mask_ignores_pad_id pytorch-examples__language_translation__src__data.py:115
    "4767102f28af": _ok("pad id is 1 in this file: 0 marks a real token"),
    # padding_mask_ignores_pad_id pytorch-examples__language_translation__src__data.py:116
    "9f83b58f6af9": _ok("pad id is 1 in this file: 0 marks a real token"),
    # padding_mask_inverted pytorch-examples__language_translation__src__data.py:115
    "d574026a4244": _ok("padding mask True on the real tokens"),
    # padding_mask_inverted pytorch-examples__language_translation__src__data.py:116
    "006a8001a490": _ok("padding mask True on the real tokens"),
    # pe_dropout_skipped pytorch-examples__gat__main.py:108
    "afd99fbc21af": _ok("a dropout removed, named for where it is"),
    # pe_dropout_skipped pytorch-examples__mnist__main.py:26
    "9ac8b5d4e399": _ok("a dropout removed, named for where it is"),
    # pe_dropout_skipped pytorch-examples__word_language_model__model.py:49
    "f4ab5ca03f2d": _ok("a dropout removed, named for where it is"),
    # pe_parameter_not_buffer pytorch-examples__word_language_model__model.py:91
    "6499b146f899": _ok("the table (or mask) trained by the optimizer"),
    # pe_parameter_not_buffer whisper__whisper__model.py:181
    "ca8e9bf4017f": _ok("the table (or mask) trained by the optimizer"),
    # pe_parameter_not_buffer whisper__whisper__model.py:225
    "53253252aa75": _ok("the table (or mask) trained by the optimizer"),
    # pe_sin_cos_swapped pytorch-examples__word_language_model__model.py:82
    "0a8fceb6145d": _ok("cos on the even columns"),
    # pe_sin_cos_swapped whisper__whisper__model.py:68
    "7079256a4900": _ok("cos on the even columns"),
    # pe_wrong_frequency_exponent pytorch-examples__word_language_model__model.py:87
    "452398fb4530": _ok("frequencies with i instead of 2i, or the sign flipped"),
    # pe_wrong_frequency_exponent pytorch-examples__word_language_model__model.py:87
    "63b9c76b4fdb": _ok("frequencies with i instead of 2i, or the sign flipped"),
    # residual_dropout_missing pytorch-image-models__timm__layers__attention.py:144
    "cdc64a7cf133": _ok("the dropout after the output projection, before the residual add, removed"),
    # residual_dropout_missing pytorch-image-models__timm__layers__attention.py:292
    "d58deaa4966a": _ok("the dropout after the output projection, before the residual add, removed"),
    # residual_dropped whisper__whisper__model.py:167
    "6266f53452c3": _ok("the sub-layer output replaces the stream"),
    # residual_dropped x-transformers__x_transformers__attend.py:550
    "ca0574f19212": _ok("the sub-layer output replaces the stream"),
    # residual_dropped whisper__whisper__model.py:169
    "d4df673a9a7e": _ok("the sub-layer output replaces the stream"),
    # softmax_wrong_dim pytorch-examples__gat__main.py:124
    "2d6a6eed4554": _ok("normalized over the other axis"),
    # softmax_wrong_dim pytorch-examples__mnist__main.py:32
    "13b3d889ac77": _ok("normalized over the other axis"),
    # softmax_wrong_dim pytorch-examples__word_language_model__model.py:54
    "2af2a81a4dd0": _ok("normalized over the other axis"),
    # split_indices_overlap pytorch-examples__gat__main.py:346
    "9129c9af5617": _ok("the two parts share one element"),
    # split_indices_overlap pytorch-image-models__timm__utils__checkpoint_saver.py:117
    "0a13574d84fa": _ok("the two parts share one element"),
    # step_before_backward pytorch-examples__gat__main.py:257
    "ab7038934aa6": _ok("the step runs on stale or no gradients"),
    # step_before_backward pytorch-examples__imagenet__main.py:329
    "bb6190ed2d28": _ok("the step runs on stale or no gradients"),
    # step_before_backward pytorch-examples__language_translation__main.py:118
    "87009846ef78": _ok("the step runs on stale or no gradients"),
    # train_mode_missing pytorch-examples__gat__main.py:257
    "3caa7492f91c": _ok("training continues in eval mode after a validation"),
    # train_mode_missing pytorch-examples__imagenet__main.py:311
    "34eb4b6cce53": _ok("training continues in eval mode after a validation"),
    # train_mode_missing pytorch-examples__language_translation__main.py:112
    "1e97fac54019": _ok("training continues in eval mode after a validation"),
    # train_mode_not_restored x-transformers__x_transformers__autoregressive_wrapper.py:33
    "ae87b85a0b8a": _ok("the wrapped model stays in eval mode after generating"),
    # unbiased_variance pytorch-image-models__timm__layers__norm.py:167
    "a524d8a992de": _ok("n - 1 variance in a layer norm"),
    # zero_grad_after_step pytorch-examples__gat__main.py:257
    "a4376bb80cd6": _ok("gradients left before the function's first step leak into it"),
    # zero_grad_after_step pytorch-examples__imagenet__main.py:329
    "7380d33a4fb2": _ok("gradients left before the function's first step leak into it"),
    # zero_grad_after_step pytorch-examples__language_translation__main.py:118
    "d38ab4e47cc8": _ok("gradients left before the function's first step leak into it"),
    # zero_grad_inside_accumulation pytorch-image-models__train.py:1251
    "6994ffa90555": _ok("gradients zeroed every micro-batch: accumulation undone"),
    # zero_grad_missing pytorch-examples__gat__main.py:257
    "9cb31ff53ac2": _ok("gradients accumulate across steps"),
    # zero_grad_missing pytorch-examples__imagenet__main.py:329
    "e75666462db9": _ok("gradients accumulate across steps"),
    # zero_grad_missing pytorch-examples__language_translation__main.py:118
    "da342c9cdaa5": _ok("gradients accumulate across steps"),
    # judged 2026-12-05: the mutators added since the first review (the LLM stack among them)
    # activation_removed pytorch-examples__gat__main.py:53
    "75eb513d3a73": _off(
        "the LeakyReLU on GAT's attention logits, before a softmax: not between two linear layers"
    ),
    # activation_removed pytorch-examples__mnist__main.py:22
    "617509db39ff": _ok("conv1 and conv2 with nothing between them"),
    # activation_removed pytorch-examples__vae__main.py:57
    "2970a13d46a2": _ok("fc1 feeds fc21/fc22 with no activation"),
    # angles_low_precision pytorch-examples__word_language_model__model.py:86
    "755d1c61ba8c": _ok("positions up to max_len in bfloat16: above 256 they round together"),
    # angles_low_precision pytorch-examples__word_language_model__model.py:87
    "fa39ab1158eb": _ok("the frequencies rounded to bfloat16: far angles wrong"),
    # bias_dropped pytorch-examples__mnist__main.py:13
    "e75156f25096": _ok("conv1 has no norm after it: its bias is lost"),
    # bias_dropped pytorch-examples__vae__main.py:50
    "8178e9f1fed9": _ok("fc1's bias lost"),
    # bias_dropped pytorch-examples__word_language_model__model.py:23
    "fc8aa49a0b34": _ok("the decoder's bias lost"),
    # cache_not_passed_back whisper__whisper__model.py:241
    "32059b7db3a7": _same(
        "whisper's cache lives in hooks on the key/value layers, which still prepend the cached tensors; "
        "without kv_cache cross-attention only recomputes its keys: same output"
    ),
    # cache_not_passed_back x-transformers__x_transformers__autoregressive_wrapper.py:256
    "57dcfd720768": _same(
        "the wrapper feeds the whole window every step; without the cache the net recomputes it: same logits"
    ),
    # cache_not_passed_back x-transformers__x_transformers__autoregressive_wrapper.py:481
    "b3285d6c1ee0": _same(
        "the wrapper feeds the whole window every step; without the cache the net recomputes it: same logits"
    ),
    # cache_not_passed_to_attention whisper__whisper__model.py:167
    "f2f9c1c3a846": _same(
        "whisper's self-attention cache is prepended by hooks on its key/value layers, not through "
        "kv_cache: same output"
    ),
    # cache_not_passed_to_attention whisper__whisper__model.py:169
    "249e39a53668": _same("cross-attention recomputes its keys and values from xa: same output, slower"),
    # causal_mask_not_offset_by_cache x-transformers__x_transformers__attend.py:165
    "280b9d496f31": _ok("with j > i the new queries are masked as if they started at 0"),
    # checkpoint_step_off_by_one pytorch-examples__imagenet__main.py:219
    "623598fde42e": _ok("the checkpoint already stores epoch + 1: resuming skips an epoch"),
    # checkpoint_step_off_by_one pytorch-image-models__timm__utils__checkpoint_saver.py:91
    "a48403269c19": _ok("timm's resume adds one to the saved epoch: an epoch skipped"),
    # checkpoint_step_off_by_one pytorch-image-models__train.py:1204
    "7324cc59da4c": _off("the per-epoch results summary, not a checkpoint"),
    # clone_dropped_before_inplace_write x-transformers__x_transformers__attend.py:99
    "12b8e830bcaa": _off(
        "a gate tensor, not labels; relu's output is fresh, so only autograd can complain (in-place on a "
        "saved output)"
    ),
    # dtype_not_restored pytorch-image-models__timm__layers__attention.py:267
    "34d489f607bf": _same(
        "q float32 beside a bf16 k: only a dtype error in the attention (autocast would cast both)"
    ),
    # dtype_not_restored pytorch-image-models__timm__layers__norm.py:109
    "0ac49e1b6d02": _ok("the layer norm returns float32 for a bf16 input"),
    # dtype_not_restored whisper__whisper__model.py:135
    "ae8ced398c12": _same("float32 weights @ fp16 v: only a dtype error"),
    # eos_rows_not_frozen x-transformers__x_transformers__autoregressive_wrapper.py:553
    "43581081afc6": _off("the training forward's pad substitution for ignore_index, not generation"),
    # eos_stop_missing whisper__whisper__decoding.py:373
    "20ab4ee44948": _off("the beam candidate-list cap, not the eos stop"),
    # eos_stop_missing x-transformers__x_transformers__autoregressive_wrapper.py:340
    "3260fa77e77a": _ok(
        "decoding runs the full seq_len after every row ended; the output is padded to full length"
    ),
    # eos_stop_missing x-transformers__x_transformers__autoregressive_wrapper.py:516
    "ca6f569dd656": _ok(
        "decoding runs the full seq_len after every row ended; the output is padded to full length"
    ),
    # eps_outside_rsqrt pytorch-image-models__timm__layers__norm.py:168
    "d4cd8eb7672c": _ok("eps outside the square root of the variance"),
    # eps_outside_rsqrt pytorch-image-models__timm__layers__norm.py:176
    "bac7f5a30a3f": _ok("eps outside the square root of the variance"),
    # float32_upcast_dropped whisper__whisper__decoding.py:285
    "8064265efafb": _ok("the log-probabilities kept in half precision"),
    # float32_upcast_dropped whisper__whisper__decoding.py:498
    "080c8baad1b8": _ok("the log-probabilities kept in half precision"),
    # float32_upcast_dropped whisper__whisper__model.py:130
    "98d8e8230111": _same(
        "softmax of half accumulates in float32 and its result is cast to half anyway: the same weights"
    ),
    # generation_refeeds_whole_sequence x-transformers__x_transformers__autoregressive_wrapper.py:257
    "7aed5378b8b9": _same(
        "x is already the whole window and the net slices off the cached positions itself; out differs "
        "from x only past max_seq_len"
    ),
    # generation_refeeds_whole_sequence x-transformers__x_transformers__autoregressive_wrapper.py:452
    "584d7f19d6f7": _same(
        "x is already the whole window and the net slices off the cached positions itself; out differs "
        "from x only past max_seq_len"
    ),
    # ignore_index_hard_coded x-transformers__x_transformers__autoregressive_wrapper.py:173
    "6f0e767f8a19": _same(
        "identical with the default -100; with another value the caller's ignore_index tokens reach the "
        "embedding and the loss as ids: only an index error"
    ),
    # ignore_index_hard_coded x-transformers__x_transformers__autoregressive_wrapper.py:548
    "ade42d8b275e": _same(
        "identical with the default -100; with another value the -100 padding reaches the embedding and "
        "the loss as an id: only an index error"
    ),
    # kv_cache_concat_wrong_axis whisper__whisper__model.py:332
    "070b9dfe83bc": _same(
        "the cache is (batch, positions, features): a cat on the batch axis only fails on the shapes"
    ),
    # labels_masked_by_pad_id x-transformers__x_transformers__autoregressive_wrapper.py:534
    "b5e4c71fe29e": _ok("padding found by pad_value instead of lens"),
    # labels_not_masked_at_padding x-transformers__x_transformers__autoregressive_wrapper.py:548
    "91813fa8d195": _ok("the padding stays in the targets"),
    # labels_padding_not_ignored x-transformers__x_transformers__autoregressive_wrapper.py:548
    "2980cd82e749": _ok("the padding stays in the targets"),
    # lm_loss_labels_not_shifted pytorch-examples__language_translation__main.py:118
    "2530538a1102": _ok("decoder input and target are the same tokens: it learns to copy"),
    # lm_loss_labels_not_shifted pytorch-examples__language_translation__main.py:163
    "7e3883a595fe": _ok("decoder input and target are the same tokens"),
    # lm_loss_labels_not_shifted x-transformers__x_transformers__autoregressive_wrapper.py:675
    "eb817f1b5689": _same(
        "the next-embedding loss unshifted: the tensors no longer match the mask's shape, only an index error"
    ),
    # lm_loss_shifted_the_wrong_way pytorch-examples__language_translation__main.py:118
    "ff319eb3e0af": _ok("the decoder predicts the previous token"),
    # lm_loss_shifted_the_wrong_way pytorch-examples__language_translation__main.py:163
    "c37fff2e253e": _ok("the decoder predicts the previous token"),
    # lm_loss_shifted_the_wrong_way x-transformers__x_transformers__autoregressive_wrapper.py:675
    "c401fb25abc3": _ok("the next-embedding loss predicts the previous embedding"),
    # load_without_map_location pytorch-examples__imagenet__main.py:218
    "c784c60a889a": _ok("the checkpoint loads onto the device it was saved from, not the chosen gpu"),
    # logits_from_first_position whisper__whisper__decoding.py:696
    "de4ebcec2163": _ok("the first position's logits"),
    # logits_from_first_position x-transformers__x_transformers__autoregressive_wrapper.py:280
    "6e95fab8c82d": _ok("the first step (no cache yet) reads position 0"),
    # logits_from_first_position x-transformers__x_transformers__autoregressive_wrapper.py:475
    "9e54fbf6e40c": _ok("the first step (no cache yet) reads position 0"),
    # min_lr_ignored pytorch-image-models__timm__scheduler__cosine_lr.py:103
    "b4bdb128e92d": _ok("the cosine decays to 0, not lr_min"),
    # norm_weight_zero_init pytorch-image-models__timm__layers__norm.py:239
    "c9cfae35c403": _ok("the gain starts at zero: the norm outputs zeros"),
    # norm_weight_zero_init pytorch-image-models__timm__layers__norm.py:431
    "d1db6ba047b2": _ok("the gain starts at zero: the norm outputs zeros"),
    # norm_weight_zero_init pytorch-image-models__timm__layers__norm.py:568
    "3a4f60a387ee": _ok("the gain starts at zero: the norm outputs zeros"),
    # nucleus_not_unsorted x-transformers__x_transformers__autoregressive_wrapper.py:97
    "2b06c8a18819": _ok("filtered logits returned in sorted order"),
    # nucleus_sorted_ascending x-transformers__x_transformers__autoregressive_wrapper.py:322
    "098ddc8b393c": _off("the beam search's score sort: no top-p cumulative sum follows"),
    # nucleus_sorted_ascending x-transformers__x_transformers__autoregressive_wrapper.py:90
    "12952d5554a7": _ok("the cumulative sum starts from the least likely tokens"),
    # optimizer_state_not_restored pytorch-examples__imagenet__main.py:225
    "f2bb91e63269": _ok("the optimizer state is not loaded on resume"),
    # optimizer_step_missing pytorch-examples__gat__main.py:257
    "1d180a013b21": _ok(),
    # optimizer_step_missing pytorch-examples__imagenet__main.py:329
    "88d801b66d67": _ok(),
    # optimizer_step_missing pytorch-examples__language_translation__main.py:118
    "a30198bd6815": _ok(),
    # past_kv_concatenated_in_wrong_order whisper__whisper__model.py:332
    "6f05f6b05e8a": _same(
        "whisper decodes one token per step with no mask over the cache, so attention does not see the "
        "order of keys and values"
    ),
    # pe_table_uninitialised pytorch-examples__word_language_model__model.py:91
    "442e5d6cb711": _ok("the positional table is garbage until a state dict overwrites it"),
    # pe_table_uninitialised whisper__whisper__model.py:181
    "cb4aabbd5414": _ok("the positional table is garbage until a state dict overwrites it"),
    # positions_off_by_one pytorch-examples__word_language_model__model.py:86
    "7f672be30d7a": _ok("the sinusoidal positions start at 1"),
    # relu_gelu_swapped pytorch-examples__mnist__main.py:22
    "80d55bc35453": _ok(),
    # relu_gelu_swapped pytorch-examples__vae__main.py:57
    "3cf85b9e0335": _ok(),
    # relu_gelu_swapped whisper__whisper__model.py:156
    "4d47db32be75": _ok(),
    # schedule_first_group_only pytorch-image-models__train.py:1179
    "87f7797cdd08": _off("only the learning rates written to the summary, not the schedule"),
    # schedule_first_group_only pytorch-image-models__train.py:1406
    "fcc7d1297841": _off("only the learning rate that is logged, not the schedule"),
    # scheduler_state_not_restored pytorch-examples__imagenet__main.py:226
    "969ea8c01b5b": _ok("the scheduler state is not loaded on resume"),
    # scheduler_step_missing pytorch-examples__imagenet__main.py:291
    "d1af54ba7592": _ok(),
    # scheduler_step_missing pytorch-examples__mnist__main.py:134
    "2e4a9c0c22f3": _ok(),
    # scheduler_step_missing pytorch-image-models__train.py:1095
    "37dd05d907a0": _off(
        "the resume-time step(start_epoch); the epoch loop still steps: only the first epoch after a "
        "resume runs at the wrong rate"
    ),
    # temperature_multiplied whisper__whisper__decoding.py:283
    "28e349c7587e": _ok(),
    # temperature_multiplied x-transformers__x_transformers__attend.py:131
    "82952bb8fcb2": _ok("the straight-through softmax temperature multiplied"),
    # temperature_multiplied x-transformers__x_transformers__autoregressive_wrapper.py:50
    "4fd276693a7c": _ok(),
    # temperature_on_probabilities whisper__whisper__decoding.py:283
    "212c3904dc45": _ok(),
    # temperature_on_probabilities x-transformers__x_transformers__attend.py:131
    "92037a899ce8": _ok("the straight-through softmax temperature applied to probabilities"),
    # temperature_on_probabilities x-transformers__x_transformers__autoregressive_wrapper.py:50
    "b2eda1df7465": _ok(),
    # top_k_keeps_smallest whisper__whisper__decoding.py:342
    "d41fd0dd0051": _ok("the beam candidates are the least likely tokens"),
    # top_k_keeps_smallest x-transformers__x_transformers__attend.py:147
    "09280b78b77e": _ok("sparse top-k attention keeps the smallest scores"),
    # top_k_keeps_smallest x-transformers__x_transformers__autoregressive_wrapper.py:107
    "2b4bb8581dc6": _ok(),
    # judged 2026-12-05, after the fixes: two samples the fixes brought into the sample
    # checkpoint_step_off_by_one pytorch-examples__imagenet__main.py:300
    "87b8b6560022": _ok("the resume reads start_epoch from it: the last epoch runs twice"),
    # scheduler_step_missing pytorch-image-models__train.py:1143
    "d92afbad3393": _ok("the epoch's only step when evaluation is skipped"),
}

#: benchmarks/realcode/, written for this project and never used to tune the mutators
_REALCODE: dict[str, Judgement] = {
    # accumulation_not_divided gpt_train.py:92
    "2e2412b6f2f9": _ok("the loss returned for backward is no longer divided by accum_steps"),
    # accumulation_not_divided image_train.py:57
    "63d56ada0bdc": _ok("the loss returned for backward is no longer divided by accum_steps"),
    # accumulation_not_divided lightning_classifier.py:78
    "516d0d8d4b76": _ok("the loss returned for backward is no longer divided by accum_steps"),
    # argmax_wrong_axis image_train.py:99
    "747b3efc723c": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # argmax_wrong_axis lightning_classifier.py:45
    "4648df0a61e7": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # argmax_wrong_axis trainer_loop.py:103
    "e880d8b6d2c8": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # attention_mask_not_passed gpt_model.py:61
    "0983eb8ff2d1": _ok("the attention call loses its mask"),
    # attention_scale_dropped gpt_model.py:65
    "79afb53dc605": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_dropped llama_modeling.py:107
    "df1ec0f367c9": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_dropped llama_modeling.py:132
    "cfa367077dec": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_inverted gpt_model.py:65
    "b855723f53f5": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # attention_scale_inverted llama_modeling.py:107
    "3341f1d69a37": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # attention_scale_inverted llama_modeling.py:132
    "2e87d873ff3e": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # buffer_not_registered gpt_model.py:48
    "ad0200a13606": _ok("a plain attribute: not moved by .to(), not in the buffers"),
    # buffer_not_registered llama_modeling.py:29
    "d79cb0d0ff06": _ok("a plain attribute: not moved by .to(), not in the buffers"),
    # causal_mask_off_by_one gpt_model.py:50
    "b4ea6f660878": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_off_by_one llama_modeling.py:167
    "0f71b5d3f5d7": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_off_by_one gpt_model.py:50
    "e86e238cdcdb": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_triu_tril_swapped gpt_model.py:50
    "54d5e2a9515e": _ok("the other triangle: the model attends to the future"),
    # causal_mask_triu_tril_swapped llama_modeling.py:167
    "ebcf620dc19a": _ok("the other triangle: the model attends to the future"),
    # clip_after_step trainer_loop.py:79
    "c78dde14e90d": _ok("the step applies the unclipped gradients"),
    # clip_after_step trainer_loop.py:118
    "b13b729d68cc": _ok("the step applies the unclipped gradients"),
    # clip_each_tensor_separately gpt_train.py:97
    "e2b76ba26776": _ok("one clip per parameter tensor instead of one total norm"),
    # clip_each_tensor_separately image_train.py:61
    "9948a0a76629": _ok("one clip per parameter tensor instead of one total norm"),
    # clip_each_tensor_separately trainer_loop.py:79
    "78b1782cd331": _ok("one clip per parameter tensor instead of one total norm"),
    # clip_grad_norm_deprecated gpt_train.py:97
    "ffacd4cf4476": _ok("the deprecated alias: same numbers, a FutureWarning (an error under -W error)"),
    # clip_grad_norm_deprecated image_train.py:61
    "5c7f91dc0e4a": _ok("the deprecated alias: same numbers, a FutureWarning (an error under -W error)"),
    # clip_grad_norm_deprecated trainer_loop.py:79
    "30d5bed1e5bb": _ok("the deprecated alias: same numbers, a FutureWarning (an error under -W error)"),
    # criterion_args_swapped image_train.py:55
    "d0cc023f428d": _ok("soft-target losses make the swap silent and wrong"),
    # device_hard_coded gpt_model.py:28
    "83cb489d5f83": _ok("a tensor pinned to the CPU where it followed a device"),
    # device_hard_coded llama_modeling.py:14
    "1d1c3469486d": _ok("a tensor pinned to the CPU where it followed a device"),
    # device_hard_coded trainer_loop.py:57
    "1d7fedbbe97f": _ok("a tensor pinned to the CPU where it followed a device"),
    # division_by_zero_count image_train.py:111
    "f88fac2f820b": _ok("the guard of a count that can be zero is gone"),
    # division_by_zero_count trainer_loop.py:86
    "79db308e0901": _ok("the guard of a count that can be zero is gone"),
    # division_by_zero_count image_train.py:112
    "735c422a5307": _ok("the guard of a count that can be zero is gone"),
    # duplicates_across_splits image_train.py:119
    "af1e635ffb38": _ok("rows drawn with replacement before the split"),
    # epsilon_missing gpt_model.py:32
    "6ffff4aa2ac4": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # epsilon_missing lightning_classifier.py:12
    "d489a3d9f5f1": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # epsilon_missing llama_modeling.py:21
    "abf2046a99d3": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # eval_mode_missing gpt_train.py:50
    "aa31fc72c312": _ok("evaluation runs with dropout and batch statistics on"),
    # eval_mode_missing image_train.py:73
    "775cdc31d859": _ok("evaluation runs with dropout and batch statistics on"),
    # eval_mode_missing trainer_loop.py:89
    "7465099c22aa": _ok("evaluation runs with dropout and batch statistics on"),
    # frozen_params_in_optimizer gpt_model.py:154
    "36bd2bdcc36a": _ok("frozen parameters reach the optimizer"),
    # heads_merged_without_transpose gpt_model.py:70
    "fba3bccf01d9": _ok("heads folded back without swapping axes: positions interleaved"),
    # heads_split_without_transpose gpt_model.py:54
    "ddcf69914b83": _ok("every split (or the fused permute) keeps heads after the sequence axis"),
    # heads_split_without_transpose llama_modeling.py:114
    "fa5aded537eb": _ok("every split (or the fused permute) keeps heads after the sequence axis"),
    # key_value_projections_swapped llama_modeling.py:121
    "d7f83105746c": _ok("k from v_proj and v from k_proj"),
    # kv_cache_dtype_ignored llama_modeling.py:68
    "7f9d9b3d4099": _ok("the cache storage in float32 whatever dtype was asked"),
    # kv_cache_dtype_ignored llama_modeling.py:69
    "bde8077635a5": _ok("the cache storage in float32 whatever dtype was asked"),
    # kv_cache_dtype_ignored llama_modeling.py:169
    "4961dc5e7f3d": _ok("the mask zeros in float32 whatever dtype: torch.cat promotes the mask"),
    # kv_cache_length_advanced_before_write llama_modeling.py:74
    "701fb049dc81": _ok("the position read for the write is already advanced"),
    # kv_cache_no_overflow_check llama_modeling.py:75
    "2b5af41c5660": _ok("the bounds check of the cache is gone"),
    # kv_cache_reset_keeps_length llama_modeling.py:83
    "29dc39577a0b": _ok("reset() keeps the cached length"),
    # kv_cache_state_changed_before_raise llama_modeling.py:74
    "72a6a62f6faf": _ok("the check runs after the write and the advance"),
    # kv_cache_wrong_slice llama_modeling.py:81
    "27f4b60d99ac": _ok("the cache read back off by one or on the wrong axis"),
    # kv_cache_wrong_slice llama_modeling.py:81
    "8ac3598b4a3f": _ok("the cache read back off by one or on the wrong axis"),
    # kv_cache_wrong_slice llama_modeling.py:81
    "ce316b190e23": _ok("the cache read back off by one or on the wrong axis"),
    # layernorm_eps_outside_sqrt llama_modeling.py:21
    "94b41519b494": _ok("1 / (sqrt(var) + eps) instead of rsqrt(var + eps)"),
    # layernorm_wrong_axis llama_modeling.py:20
    "ecf7174f7702": _ok("the statistics over the axis before the features"),
    # log_of_softmax image_train.py:41
    "8dc46823b29d": _ok("log of softmax: -inf once a probability underflows"),
    # loss_kept_as_tensor image_train.py:56
    "39752bd76095": _ok("the meter keeps the loss tensor and its graph (training)"),
    # loss_kept_as_tensor trainer_loop.py:102
    "acfb43107e6d": _ok("the meter keeps the loss tensor and its graph (training)"),
    # lr_sign_flipped gpt_train.py:94
    "1d091f680a9d": _ok("gradient ascent"),
    # lr_sign_flipped image_train.py:57
    "7f6c705715e3": _ok("gradient ascent"),
    # lr_sign_flipped trainer_loop.py:61
    "5e766b160bcc": _ok("gradient ascent"),
    # mask_polarity_inverted gpt_model.py:66
    "c53639266764": _ok("the attention mask applied inverted"),
    # masked_fill_zero gpt_model.py:66
    "7570060b4195": _ok("masked scores (or the additive mask) 0 instead of -inf"),
    # masked_fill_zero llama_modeling.py:166
    "25c6a311aab0": _ok("masked scores (or the additive mask) 0 instead of -inf"),
    # mean_of_batch_means image_train.py:56
    "66d0817c6ae3": _ok("every batch weighs the same whatever its size"),
    # mean_of_batch_means image_train.py:85
    "91421f96e32e": _ok("every batch weighs the same whatever its size"),
    # mean_of_batch_means image_train.py:90
    "92898933a192": _ok("every batch weighs the same whatever its size"),
    # mse_on_class_logits image_train.py:98
    "0840b869f6e5": _ok("MSE on one-hot targets instead of cross entropy"),
    # mse_on_class_logits lightning_classifier.py:53
    "ff047c6e0da4": _ok("MSE on one-hot targets instead of cross entropy"),
    # no_grad_missing gpt_model.py:168
    "5d43de9887f4": _ok("an evaluation forward pass builds a graph"),
    # no_grad_missing gpt_train.py:49
    "531c7eeaabe0": _ok("an evaluation forward pass builds a graph"),
    # no_grad_missing image_train.py:78
    "1ad71ec43007": _ok("an evaluation forward pass builds a graph"),
    # output_projection_skipped gpt_model.py:71
    "d3a730129f25": _ok("the output projection of attention skipped"),
    # output_projection_skipped llama_modeling.py:141
    "d17f2a20051f": _ok("the output projection of attention skipped"),
    # param_missing_from_optimizer gpt_model.py:157
    "dbf4dc4ac69d": _ok("one parameter group left out of the optimizer"),
    # param_missing_from_optimizer trainer_loop.py:24
    "9b739e6e376b": _ok("one parameter group left out of the optimizer"),
    # param_missing_from_optimizer gpt_model.py:157
    "4b32bc0d3dce": _ok("one parameter group left out of the optimizer"),
    # pe_dropout_skipped gpt_model.py:68
    "d74531d413cf": _ok("a dropout removed, named for where it is"),
    # pe_dropout_skipped lightning_classifier.py:23
    "27ed6a3149c2": _ok("a dropout removed, named for where it is"),
    # pe_dropout_skipped llama_modeling.py:137
    "aa42b5d00b53": _ok("a dropout removed, named for where it is"),
    # pe_sin_cos_swapped llama_modeling.py:38
    "bd2676d95b6e": _ok("cos on the even columns"),
    # pe_wrong_frequency_exponent llama_modeling.py:28
    "ddb00d1bbc50": _ok("frequencies with i instead of 2i, or the sign flipped"),
    # post_norm_instead_of_pre_norm gpt_model.py:100
    "5bb036aaeec1": _ok("the norm moved after the residual add"),
    # post_norm_instead_of_pre_norm gpt_model.py:101
    "63c332b77641": _ok("the norm moved after the residual add"),
    # residual_dropout_missing gpt_model.py:71
    "4eb6812a16b2": _ok("the dropout after the output projection, before the residual add, removed"),
    # residual_dropout_missing gpt_model.py:87
    "61862588cd85": _ok("the dropout after the output projection, before the residual add, removed"),
    # residual_dropped gpt_model.py:100
    "d3c6b9a5c11d": _ok("the sub-layer output replaces the stream"),
    # residual_dropped gpt_model.py:101
    "5b544a8b130c": _ok("the sub-layer output replaces the stream"),
    # softmax_wrong_dim gpt_model.py:67
    "490037af087d": _ok("normalized over the other axis"),
    # softmax_wrong_dim image_train.py:41
    "f26f5fd914e9": _ok("normalized over the other axis"),
    # softmax_wrong_dim llama_modeling.py:136
    "0324e2739d7e": _ok("normalized over the other axis"),
    # split_indices_overlap image_train.py:121
    "f443e49eed08": _ok("the two parts share one element"),
    # train_mode_missing gpt_train.py:50
    "7b7836a086f7": _ok("training continues in eval mode after a validation"),
    # train_mode_missing image_train.py:46
    "091a61e4c1a5": _ok("training continues in eval mode after a validation"),
    # train_mode_missing trainer_loop.py:56
    "5dda3f225c63": _ok("training continues in eval mode after a validation"),
    # weight_decay_on_bias_and_norm gpt_model.py:159
    "18cb649388df": _ok("the no-decay group decayed"),
    # weight_decay_on_bias_and_norm trainer_loop.py:31
    "e2337e54e869": _ok("the no-decay group decayed"),
    # wrong_norm_used gpt_model.py:101
    "2975d4ce0d07": _ok("the previous sub-layer's norm"),
    # zero_grad_inside_accumulation gpt_train.py:79
    "4c95265478d5": _ok("gradients zeroed every micro-batch: accumulation undone"),
    # zero_grad_inside_accumulation image_train.py:46
    "d7c3f25ed8a2": _ok("gradients zeroed every micro-batch: accumulation undone"),
    # zero_grad_missing gpt_train.py:79
    "7db1c2baa16c": _ok("gradients accumulate across steps"),
    # zero_grad_missing image_train.py:59
    "d8aeff958cb4": _ok("gradients accumulate across steps"),
    # zero_grad_missing lightning_classifier.py:81
    "6e2240ba41cc": _ok("gradients accumulate across steps"),
    # judged 2026-12-05: the mutators added since the first review (the LLM stack among them)
    # activation_removed gpt_model.py:79
    "e114a7292869": _ok(),
    # activation_removed lightning_classifier.py:20
    "bbc221704cb1": _ok("conv-bn then pool straight into conv2"),
    # activation_removed llama_modeling.py:97
    "d51afb01699b": _ok("the gate without SiLU: the block becomes bilinear"),
    # angles_low_precision llama_modeling.py:28
    "fb7457f7c820": _ok("inv_freq in bfloat16"),
    # attention_scale_sqrt_d_model gpt_model.py:65
    "44ed7e1ba287": _ok("n_head * head_dim is d_model"),
    # attention_scale_sqrt_seq_len gpt_model.py:65
    "cc75134c4558": _ok(),
    # autocast_dtype_ignored gpt_train.py:28
    "8cb4f14aa19c": _ok("float16 on cuda when bfloat16 was asked"),
    # autocast_missing image_train.py:53
    "69ae518d3830": _ok(),
    # bias_dropped lightning_classifier.py:11
    "f817461d1289": _same("conv1 feeds bn1, whose mean subtraction cancels the bias"),
    # bias_dropped lightning_classifier.py:16
    "25f8a1e33ffd": _ok(),
    # bias_dropped lightning_classifier.py:17
    "2c11d122a670": _ok(),
    # cache_not_passed_to_attention llama_modeling.py:156
    "62437491ccbd": _ok(),
    # checkpoint_step_off_by_one gpt_train.py:87
    "93840fc4a499": _ok("resume skips an iteration"),
    # clip_before_unscale gpt_train.py:96
    "304556a9f8c9": _ok(),
    # clip_before_unscale image_train.py:60
    "d7743a3fd953": _ok(),
    # cosine_not_offset_by_warmup gpt_train.py:69
    "694d5ab2bed6": _ok(),
    # cosine_not_offset_by_warmup trainer_loop.py:41
    "624107f03adf": _ok(),
    # cosine_over_total_steps gpt_train.py:69
    "5af5524ec8d9": _ok(),
    # cosine_over_total_steps trainer_loop.py:41
    "d4ab66d88ffe": _ok(),
    # dtype_not_restored llama_modeling.py:136
    "90aa1fbe5eb3": _same("float32 weights @ bf16 values: only a dtype error"),
    # dtype_not_restored llama_modeling.py:22
    "df5b75f0ffab": _ok("the norm returns float32 for a bf16 input"),
    # dtype_not_restored llama_modeling.py:38
    "01ee0981fa80": _same(
        "sin float32 beside bf16 q/k: q and k become float32 and only the matmul with bf16 values fails"
    ),
    # eps_outside_rsqrt llama_modeling.py:21
    "162b2888326b": _ok(),
    # float32_upcast_dropped lightning_classifier.py:45
    "7eda733cbed5": _off(
        "an accuracy over a bool comparison, not a half-precision reduction; without .float() mean() only "
        "raises"
    ),
    # float32_upcast_dropped llama_modeling.py:18
    "4b4572fe022d": _ok("the RMS statistic in half precision"),
    # generator_not_passed image_train.py:119
    "b709dbff8386": _ok(),
    # kv_cache_concat_wrong_axis llama_modeling.py:169
    "48d3e701d87e": _off(
        "the causal mask's zero block for past positions, not a KV cache; the cat only fails on the shapes"
    ),
    # kv_cache_stored_after_repeat llama_modeling.py:121
    "d6a9af7db149": _ok(),
    # kv_heads_tiled_not_interleaved llama_modeling.py:59
    "56c7165053d8": _ok(),
    # logits_from_first_position gpt_model.py:172
    "83f3080c174e": _ok(),
    # logits_from_first_position llama_modeling.py:174
    "d3509658e275": _ok(),
    # lr_not_clamped_after_total gpt_train.py:67
    "b57d3e337b4d": _ok(),
    # mask_applied_after_softmax gpt_model.py:65
    "d0aba207cf3d": _ok(),
    # min_lr_ignored gpt_train.py:71
    "4e0395eb9e4b": _ok(),
    # norm_eps_not_passed llama_modeling.py:150
    "811914cdd962": _ok("the module default eps instead of the configured one"),
    # norm_eps_not_passed llama_modeling.py:151
    "dac6bca27336": _ok("the module default eps instead of the configured one"),
    # norm_weight_dropped llama_modeling.py:22
    "27f3cd91c859": _ok(),
    # norm_weight_zero_init gpt_model.py:28
    "c8b5e35f0074": _ok(),
    # norm_weight_zero_init llama_modeling.py:14
    "48b06b5f8df8": _ok(),
    # nucleus_cut_one_too_early llama_modeling.py:177
    "5a5af7cc30a2": _ok(),
    # nucleus_sorted_ascending llama_modeling.py:175
    "7dacfc74c60c": _ok(),
    # optimizer_step_bypasses_scaler gpt_train.py:98
    "f8331cf8c189": _ok(),
    # optimizer_step_bypasses_scaler image_train.py:62
    "d793b83b3391": _ok(),
    # optimizer_step_missing gpt_train.py:79
    "6c560e9f8bf0": _ok("scaler.step is the optimizer step here"),
    # optimizer_step_missing image_train.py:59
    "973b212847ce": _ok("scaler.step is the optimizer step here"),
    # optimizer_step_missing lightning_classifier.py:81
    "efd9c1df98b8": _ok(),
    # output_projection_applied_twice gpt_model.py:71
    "49443df1407f": _ok(),
    # output_projection_applied_twice gpt_model.py:86
    "046bac7cf25d": _off(
        "the MLP's c_proj, not an attention output projection; 4n -> n applied twice only fails on the shapes"
    ),
    # output_projection_applied_twice llama_modeling.py:141
    "ce2cf51fb250": _ok(),
    # past_kv_concatenated_in_wrong_order llama_modeling.py:169
    "592aaf3d51a1": _off("the causal mask's zero block for past positions, not the KV cache"),
    # positions_off_by_one gpt_model.py:137
    "ed26f1d8a20f": _off(
        "a learned position embedding, not a rotary/sinusoidal table: trained from scratch the shift is a "
        "relabelling, and index block_size is out of range"
    ),
    # relu_gelu_swapped gpt_model.py:79
    "5e370e40f664": _ok(),
    # relu_gelu_swapped lightning_classifier.py:20
    "585ba651debf": _ok(),
    # relu_gelu_swapped llama_modeling.py:97
    "afb235e4d69e": _ok(),
    # rmsnorm_mean_instead_of_rms llama_modeling.py:20
    "84967a7e2926": _ok(),
    # rmsnorm_variance_instead_of_mean_square llama_modeling.py:20
    "c415b3c18728": _ok(),
    # rope_rotate_half_flipped llama_modeling.py:50
    "c120736350ab": _ok(),
    # rope_rotate_half_flipped llama_modeling.py:51
    "bb577e8b1366": _ok(),
    # rope_rotation_reversed llama_modeling.py:44
    "42a410754449": _ok(),
    # rope_table_interleaved llama_modeling.py:37
    "9cd248d83ef2": _ok(),
    # scaler_update_missing gpt_train.py:99
    "ce588a8ffe2e": _ok(),
    # scaler_update_missing image_train.py:63
    "25864288ca18": _ok(),
    # schedule_first_group_only gpt_train.py:80
    "80f39c1c6949": _ok("only the first group gets the schedule"),
    # scheduler_step_before_optimizer trainer_loop.py:118
    "4e38afb5baeb": _ok(),
    # scheduler_step_before_optimizer trainer_loop.py:79
    "c33d6c93242c": _ok(),
    # scheduler_step_missing trainer_loop.py:120
    "6073666900b0": _ok(),
    # scheduler_step_missing trainer_loop.py:81
    "68a8cab7a134": _ok(),
    # silu_replaced_by_gelu llama_modeling.py:97
    "0d89ca6ae24d": _ok(),
    # swiglu_gate_on_wrong_branch llama_modeling.py:97
    "2bb5dcc5bb7c": _ok(),
    # temperature_multiplied gpt_model.py:172
    "47c7a4ead492": _ok(),
    # temperature_multiplied llama_modeling.py:174
    "22982691bf2e": _ok(),
    # temperature_on_probabilities gpt_model.py:172
    "04c03b5e5ea1": _ok(),
    # temperature_on_probabilities llama_modeling.py:174
    "cb1b9fde1cc2": _ok(),
    # top_k_keeps_smallest gpt_model.py:174
    "52f15e788774": _ok(),
    # unscale_missing gpt_train.py:96
    "5b2f5aa40f49": _ok(),
    # unscale_missing image_train.py:60
    "b56acffb0856": _ok(),
    # warmup_off_by_one gpt_train.py:66
    "f9497f0488cb": _ok(),
}

REVIEW: dict[str, Judgement] = {**_CORPUS, **_REALCODE}
