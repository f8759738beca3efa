"""A person's judgement of each review sample of ``bench_corpus.py``, keyed by sample ID.

Each sample is one written variant: a mutator's rewrite of one site of a real file. The reviewer
read its diff in its file and recorded two answers: is the rewrite the bug the variant claims
(its description, which may be more precise than the mutator's for that site), and does it
change behaviour (not equivalent as written, and not a rewrite that can only crash where a
silent bug is claimed). A sample is precise when both are yes. IDs hash the file, the bug ID and
the diff, so a rewrite that changes is judged again.
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
    "f13717ce8bb0": _ok("the loss returned for backward is no longer divided by accum_steps"),
    # argmax_wrong_axis pytorch-examples__gat__main.py:284
    "5f124a06e21f": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # argmax_wrong_axis pytorch-examples__mnist__main.py:62
    "802d551deabe": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # argmax_wrong_axis pytorch-image-models__validate.py:393
    "d9188b42c846": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # attention_mask_not_passed pytorch-image-models__timm__layers__attention.py:124
    "400256d42958": _ok("the attention call loses its mask"),
    # attention_mask_not_passed whisper__whisper__model.py:111
    "038f93e24ed1": _ok("the attention call loses its mask"),
    # attention_mask_not_passed x-transformers__x_transformers__attend.py:461
    "efcb9607f0af": _ok("the attention call loses its mask"),
    # attention_scale_dropped pytorch-image-models__timm__layers__attention.py:99
    "be36db12ced6": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_dropped whisper__whisper__model.py:118
    "9ca59a3b61d9": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_dropped pytorch-image-models__timm__layers__attention.py:210
    "d5651bd515bb": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_inverted pytorch-image-models__timm__layers__attention.py:99
    "eeec7dc2cd2e": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # attention_scale_inverted whisper__whisper__model.py:118
    "8a565aff2128": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # attention_scale_inverted pytorch-image-models__timm__layers__attention.py:210
    "5000efa29b7b": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # average_over_padding x-transformers__x_transformers__attend.py:471
    "12a72c7841c8": _ok("masked positions are no longer zeroed before the average"),
    # average_over_padding x-transformers__x_transformers__attend.py:608
    "001e835467ee": _ok("masked positions are no longer zeroed before the average"),
    # average_over_padding x-transformers__x_transformers__attend.py:647
    "da9e8d7eab8d": _ok("masked positions are no longer zeroed before the average"),
    # buffer_not_registered pytorch-examples__word_language_model__model.py:91
    "18e6f54f7d5c": _ok("a plain attribute: not moved by .to(), not in the buffers"),
    # buffer_not_registered whisper__whisper__model.py:181
    "f5f21bf15aad": _ok("a plain attribute: not moved by .to(), not in the buffers"),
    # buffer_not_registered whisper__whisper__model.py:276
    "f272b3ba7b53": _same(
        "the boolean heads table is only iterated through .indices(): where it lives changes nothing"
    ),
    # causal_mask_off_by_one pytorch-examples__language_translation__src__data.py:99
    "b25efeb09b5e": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_off_by_one pytorch-examples__word_language_model__model.py:123
    "6228fc6695e2": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_off_by_one pytorch-image-models__timm__layers__attention.py:32
    "0af80cf9c05a": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_triu_tril_swapped pytorch-examples__language_translation__src__data.py:99
    "da7ec6789dea": _ok("the other triangle: the model attends to the future"),
    # causal_mask_triu_tril_swapped pytorch-examples__word_language_model__model.py:123
    "e9f3f3d44320": _ok("the other triangle: the model attends to the future"),
    # causal_mask_triu_tril_swapped pytorch-image-models__timm__layers__attention.py:32
    "9877743ec8bc": _ok("the other triangle: the model attends to the future"),
    # clip_each_tensor_separately pytorch-examples__word_language_model__main.py:189
    "529daf452849": _ok("one clip per parameter tensor instead of one total norm"),
    # clip_grad_norm_deprecated pytorch-examples__word_language_model__main.py:189
    "c8cda1e6ab46": _ok("the deprecated alias: same numbers, a FutureWarning (an error under -W error)"),
    # cross_attention_reads_decoder_input whisper__whisper__model.py:169
    "ee3bc7fba9a8": _ok("cross-attention reads the decoder stream"),
    # device_hard_coded pytorch-examples__gat__main.py:48
    "7c5961c0713a": _ok("a tensor pinned to the CPU where it followed a device"),
    # device_hard_coded pytorch-examples__imagenet__main.py:466
    "9c5ed74dd8f1": _ok("a tensor pinned to the CPU where it followed a device"),
    # device_hard_coded pytorch-examples__language_translation__src__data.py:99
    "789a4a0de219": _ok("a tensor pinned to the CPU where it followed a device"),
    # duplicates_across_splits pytorch-examples__gat__main.py:345
    "e5d8e0a01e6d": _ok("rows drawn with replacement before the split"),
    # epsilon_missing pytorch-image-models__timm__layers__norm.py:50
    "84f1f5f6cf25": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # epsilon_missing whisper__whisper__model.py:147
    "50648eeb99bb": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # epsilon_missing x-transformers__x_transformers__autoregressive_wrapper.py:43
    "b4668574bf54": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # eval_mode_missing pytorch-examples__gat__main.py:278
    "fee103e3163c": _ok("evaluation runs with dropout and batch statistics on"),
    # eval_mode_missing pytorch-examples__imagenet__main.py:360
    "af9952f2fc7b": _ok("evaluation runs with dropout and batch statistics on"),
    # eval_mode_missing pytorch-examples__language_translation__main.py:57
    "9fafaf1d8f51": _ok("evaluation runs with dropout and batch statistics on"),
    # float16_overflow pytorch-examples__vae__main.py:61
    "7b8c614372a9": _ok("exp in float16: precision loss, inf above about 11"),
    # float16_overflow pytorch-examples__word_language_model__model.py:87
    "a038759b3687": _ok("exp in float16: precision loss, inf above about 11"),
    # float16_overflow whisper__whisper__model.py:66
    "a481048c2df2": _ok("exp in float16: precision loss, inf above about 11"),
    # heads_merged_without_transpose pytorch-image-models__timm__layers__attention.py:139
    "68c18151c127": _ok("heads folded back without swapping axes: positions interleaved"),
    # heads_merged_without_transpose whisper__whisper__model.py:127
    "451b3bc266fb": _ok("heads folded back without swapping axes: positions interleaved"),
    # heads_merged_without_transpose pytorch-image-models__timm__layers__attention.py:287
    "342161107390": _ok("heads folded back without swapping axes: positions interleaved"),
    # heads_split_without_transpose pytorch-image-models__timm__layers__attention.py:111
    "d09c02fcbacd": _ok("every split (or the fused permute) keeps heads after the sequence axis"),
    # heads_split_without_transpose pytorch-image-models__timm__layers__attention.py:232
    "91322618e2f2": _ok("every split (or the fused permute) keeps heads after the sequence axis"),
    # key_value_projections_swapped pytorch-image-models__timm__layers__attention.py:258
    "9dea2d75e5f1": _ok("k from v_proj and v from k_proj"),
    # layernorm_eps_outside_sqrt pytorch-image-models__timm__layers__norm.py:168
    "a357149e4ead": _ok("1 / (sqrt(var) + eps) instead of rsqrt(var + eps)"),
    # layernorm_eps_outside_sqrt pytorch-image-models__timm__layers__norm.py:176
    "fa95aa81d16a": _ok("1 / (sqrt(var) + eps) instead of rsqrt(var + eps)"),
    # log_of_softmax pytorch-examples__gat__main.py:203
    "a70fac4da7df": _ok("log of softmax: -inf once a probability underflows"),
    # log_of_softmax pytorch-examples__mnist__main.py:32
    "704c4a0c2601": _ok("log of softmax: -inf once a probability underflows"),
    # log_of_softmax pytorch-examples__word_language_model__model.py:54
    "1593438a44eb": _ok("log of softmax: -inf once a probability underflows"),
    # loss_accumulated_as_tensor pytorch-examples__language_translation__main.py:144
    "1c24ae4f6c5b": _ok("running total keeps every batch's graph (training, no no_grad)"),
    # loss_accumulated_as_tensor pytorch-examples__vae__main.py:101
    "c70cbb7a62bd": _ok("running total keeps every batch's graph (training, no no_grad)"),
    # loss_accumulated_as_tensor pytorch-examples__word_language_model__main.py:196
    "85332d312e57": _ok("running total keeps every batch's graph (training, no no_grad)"),
    # loss_kept_as_tensor pytorch-examples__imagenet__main.py:341
    "48443d928724": _ok("the meter keeps the loss tensor and its graph (training)"),
    # lr_sign_flipped pytorch-examples__gat__main.py:265
    "1f8625ca4a3e": _ok("gradient ascent"),
    # lr_sign_flipped pytorch-examples__imagenet__main.py:347
    "a7f5d5e6a4b1": _ok("gradient ascent"),
    # lr_sign_flipped pytorch-examples__language_translation__main.py:138
    "2c3488b8f3ba": _ok("gradient ascent"),
    # mask_polarity_inverted pytorch-examples__language_translation__src__data.py:100
    "a6f418d4c45c": _ok("the attention mask applied inverted"),
    # mask_polarity_inverted pytorch-image-models__timm__layers__attention.py:37
    "59a2f9469227": _ok("the attention mask applied inverted"),
    # mask_polarity_inverted x-transformers__x_transformers__attend.py:152
    "afe67b7e5fd7": _ok("the attention mask applied inverted"),
    # masked_fill_zero pytorch-examples__language_translation__src__data.py:100
    "c2666e988568": _ok("masked scores (or the additive mask) 0 instead of -inf"),
    # masked_fill_zero pytorch-image-models__timm__layers__attention.py:37
    "07ee374ed1b0": _ok("masked scores (or the additive mask) 0 instead of -inf"),
    # masked_fill_zero whisper__whisper__model.py:224
    "51dfd4621e7c": _ok("masked scores (or the additive mask) 0 instead of -inf"),
    # masks_combined_with_or x-transformers__x_transformers__attend.py:150
    "4b07a2945bbc": _ok("two may-attend masks OR-ed"),
    # masks_combined_with_or x-transformers__x_transformers__attend.py:400
    "cd46a494ff9c": _ok("two may-attend masks OR-ed"),
    # masks_combined_with_or x-transformers__x_transformers__attend.py:407
    "edc54e1a980c": _ok("two may-attend masks OR-ed"),
    # mean_of_batch_means pytorch-examples__imagenet__main.py:341
    "e407016638bf": _ok("every batch weighs the same whatever its size"),
    # mean_of_batch_means pytorch-examples__mnist__main.py:53
    "6fe181800c3b": _ok("every batch weighs the same whatever its size"),
    # mean_of_batch_means pytorch-image-models__train.py:1384
    "da28c60359e7": _ok("every batch weighs the same whatever its size"),
    # no_grad_missing pytorch-examples__gat__main.py:279
    "4afade96bbdc": _ok("an evaluation forward pass builds a graph"),
    # no_grad_missing pytorch-examples__imagenet__main.py:369
    "e05acef0bb61": _ok("an evaluation forward pass builds a graph"),
    # no_grad_missing pytorch-examples__mnist__main.py:57
    "6a1d11a6261e": _ok("an evaluation forward pass builds a graph"),
    # padding_mask_ignores_pad_id pytorch-examples__language_translation__src__data.py:115
    "572f8086e84f": _ok("pad id is 1 in this file: 0 marks a real token"),
    # padding_mask_ignores_pad_id pytorch-examples__language_translation__src__data.py:116
    "d4ab861eaf67": _ok("pad id is 1 in this file: 0 marks a real token"),
    # padding_mask_inverted pytorch-examples__language_translation__src__data.py:115
    "1f1d4307e889": _ok("padding mask True on the real tokens"),
    # padding_mask_inverted pytorch-examples__language_translation__src__data.py:116
    "2495e944c286": _ok("padding mask True on the real tokens"),
    # pe_dropout_skipped pytorch-examples__gat__main.py:108
    "a5159e200f8a": _ok("a dropout removed, named for where it is"),
    # pe_dropout_skipped pytorch-examples__mnist__main.py:26
    "c6a02d6a4d3b": _ok("a dropout removed, named for where it is"),
    # pe_dropout_skipped pytorch-examples__word_language_model__model.py:49
    "c1b90308caed": _ok("a dropout removed, named for where it is"),
    # pe_parameter_not_buffer pytorch-examples__word_language_model__model.py:91
    "4a8cf65cbfa9": _ok("the table (or mask) trained by the optimizer"),
    # pe_parameter_not_buffer whisper__whisper__model.py:181
    "d5568bed15e8": _ok("the table (or mask) trained by the optimizer"),
    # pe_parameter_not_buffer whisper__whisper__model.py:225
    "1ad70c5058b0": _ok("the table (or mask) trained by the optimizer"),
    # pe_sin_cos_swapped pytorch-examples__word_language_model__model.py:82
    "bc54c8ac8aef": _ok("cos on the even columns"),
    # pe_sin_cos_swapped whisper__whisper__model.py:68
    "b7d043536afe": _ok("cos on the even columns"),
    # pe_wrong_frequency_exponent pytorch-examples__word_language_model__model.py:87
    "28c273098ccb": _ok("frequencies with i instead of 2i, or the sign flipped"),
    # pe_wrong_frequency_exponent pytorch-examples__word_language_model__model.py:87
    "cba4cc9fff9c": _ok("frequencies with i instead of 2i, or the sign flipped"),
    # residual_dropout_missing pytorch-image-models__timm__layers__attention.py:144
    "544d85b57db7": _ok("the dropout after the output projection, before the residual add, removed"),
    # residual_dropout_missing pytorch-image-models__timm__layers__attention.py:292
    "2bd43ea072b6": _ok("the dropout after the output projection, before the residual add, removed"),
    # residual_dropped whisper__whisper__model.py:167
    "e45ad1501ce1": _ok("the sub-layer output replaces the stream"),
    # residual_dropped x-transformers__x_transformers__attend.py:550
    "633e1b771fe6": _ok("the sub-layer output replaces the stream"),
    # residual_dropped whisper__whisper__model.py:169
    "297f7147f79c": _ok("the sub-layer output replaces the stream"),
    # softmax_wrong_dim pytorch-examples__gat__main.py:124
    "4a2194b9ea27": _ok("normalized over the other axis"),
    # softmax_wrong_dim pytorch-examples__mnist__main.py:32
    "7744787a3c33": _ok("normalized over the other axis"),
    # softmax_wrong_dim pytorch-examples__word_language_model__model.py:54
    "45e1be16efe8": _ok("normalized over the other axis"),
    # split_indices_overlap pytorch-examples__gat__main.py:346
    "2a00107b9fd9": _ok("the two parts share one element"),
    # split_indices_overlap pytorch-image-models__timm__utils__checkpoint_saver.py:117
    "c0b28db7386c": _ok("the two parts share one element"),
    # step_before_backward pytorch-examples__gat__main.py:257
    "9ac8e9db49d6": _ok("the step runs on stale or no gradients"),
    # step_before_backward pytorch-examples__imagenet__main.py:329
    "a1194885ea00": _ok("the step runs on stale or no gradients"),
    # step_before_backward pytorch-examples__language_translation__main.py:118
    "b6b0be43e227": _ok("the step runs on stale or no gradients"),
    # train_mode_missing pytorch-examples__gat__main.py:257
    "e640ce81f0ac": _ok("training continues in eval mode after a validation"),
    # train_mode_missing pytorch-examples__imagenet__main.py:311
    "017b223ea2e3": _ok("training continues in eval mode after a validation"),
    # train_mode_missing pytorch-examples__language_translation__main.py:112
    "b19ef3b040f9": _ok("training continues in eval mode after a validation"),
    # train_mode_not_restored x-transformers__x_transformers__autoregressive_wrapper.py:33
    "d300f649d311": _ok("the wrapped model stays in eval mode after generating"),
    # unbiased_variance pytorch-image-models__timm__layers__norm.py:167
    "d223b0c833a9": _ok("n - 1 variance in a layer norm"),
    # zero_grad_after_step pytorch-examples__gat__main.py:257
    "2b30d8478fb4": _ok("gradients left before the function's first step leak into it"),
    # zero_grad_after_step pytorch-examples__imagenet__main.py:329
    "b22afa22a6f9": _ok("gradients left before the function's first step leak into it"),
    # zero_grad_after_step pytorch-examples__language_translation__main.py:118
    "eecf565eef3e": _ok("gradients left before the function's first step leak into it"),
    # zero_grad_inside_accumulation pytorch-image-models__train.py:1251
    "bc90e5d9278e": _ok("gradients zeroed every micro-batch: accumulation undone"),
    # zero_grad_missing pytorch-examples__gat__main.py:257
    "51e9839aa2bf": _ok("gradients accumulate across steps"),
    # zero_grad_missing pytorch-examples__imagenet__main.py:329
    "7f66cba44810": _ok("gradients accumulate across steps"),
    # zero_grad_missing pytorch-examples__language_translation__main.py:118
    "8f1055cca415": _ok("gradients accumulate across steps"),
}

#: benchmarks/realcode/, written for this project and never used to tune the mutators
_REALCODE: dict[str, Judgement] = {
    # accumulation_not_divided gpt_train.py:92
    "c49b2e2efe94": _ok("the loss returned for backward is no longer divided by accum_steps"),
    # accumulation_not_divided image_train.py:57
    "3cd903ed98dc": _ok("the loss returned for backward is no longer divided by accum_steps"),
    # accumulation_not_divided lightning_classifier.py:78
    "43a33197cd7a": _ok("the loss returned for backward is no longer divided by accum_steps"),
    # argmax_wrong_axis image_train.py:99
    "cf9e5981b86d": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # argmax_wrong_axis lightning_classifier.py:45
    "1c9a094e651e": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # argmax_wrong_axis trainer_loop.py:103
    "7eb3a53e758a": _ok("predictions taken across the batch; wrong, or a shape error unless N equals C"),
    # attention_mask_not_passed gpt_model.py:61
    "1c500724c895": _ok("the attention call loses its mask"),
    # attention_scale_dropped gpt_model.py:65
    "928b6c848cfe": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_dropped llama_modeling.py:107
    "43ef3b1ee3c6": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_dropped llama_modeling.py:132
    "b312b97c14b2": _ok("the scale used by the attention scores becomes 1"),
    # attention_scale_inverted gpt_model.py:65
    "e94c6630e09c": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # attention_scale_inverted llama_modeling.py:107
    "1a26c44cbefc": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # attention_scale_inverted llama_modeling.py:132
    "69a46648b52f": _ok("the scale becomes d ** +0.5 (or +0.25 on q and k)"),
    # buffer_not_registered gpt_model.py:48
    "2e691f606afe": _ok("a plain attribute: not moved by .to(), not in the buffers"),
    # buffer_not_registered llama_modeling.py:29
    "bd11aefc5972": _ok("a plain attribute: not moved by .to(), not in the buffers"),
    # causal_mask_off_by_one gpt_model.py:50
    "2211a7a9c1a8": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_off_by_one llama_modeling.py:167
    "87e5c2369e84": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_off_by_one gpt_model.py:50
    "ce4002a78ed1": _ok("diagonal shifted: the current token hidden or the next one seen"),
    # causal_mask_triu_tril_swapped gpt_model.py:50
    "7bd97261c0df": _ok("the other triangle: the model attends to the future"),
    # causal_mask_triu_tril_swapped llama_modeling.py:167
    "ec43d8064fc1": _ok("the other triangle: the model attends to the future"),
    # clip_after_step trainer_loop.py:79
    "f89689bc851d": _ok("the step applies the unclipped gradients"),
    # clip_after_step trainer_loop.py:118
    "d923a4374a0a": _ok("the step applies the unclipped gradients"),
    # clip_each_tensor_separately gpt_train.py:97
    "5fbfe588f464": _ok("one clip per parameter tensor instead of one total norm"),
    # clip_each_tensor_separately image_train.py:61
    "a1c66055eb91": _ok("one clip per parameter tensor instead of one total norm"),
    # clip_each_tensor_separately trainer_loop.py:79
    "f6237ed0ee3e": _ok("one clip per parameter tensor instead of one total norm"),
    # clip_grad_norm_deprecated gpt_train.py:97
    "1af55c607ad9": _ok("the deprecated alias: same numbers, a FutureWarning (an error under -W error)"),
    # clip_grad_norm_deprecated image_train.py:61
    "b4d4fbdf8e7a": _ok("the deprecated alias: same numbers, a FutureWarning (an error under -W error)"),
    # clip_grad_norm_deprecated trainer_loop.py:79
    "5aa73d6443d4": _ok("the deprecated alias: same numbers, a FutureWarning (an error under -W error)"),
    # criterion_args_swapped image_train.py:55
    "72c08568ab4c": _ok("soft-target losses make the swap silent and wrong"),
    # device_hard_coded gpt_model.py:28
    "d1cfc1983249": _ok("a tensor pinned to the CPU where it followed a device"),
    # device_hard_coded llama_modeling.py:14
    "3d80e87049d8": _ok("a tensor pinned to the CPU where it followed a device"),
    # device_hard_coded trainer_loop.py:57
    "3ddd5e07fb35": _ok("a tensor pinned to the CPU where it followed a device"),
    # division_by_zero_count image_train.py:111
    "4a440fdf4994": _ok("the guard of a count that can be zero is gone"),
    # division_by_zero_count trainer_loop.py:86
    "133ae0246e0f": _ok("the guard of a count that can be zero is gone"),
    # division_by_zero_count image_train.py:112
    "5098560dd000": _ok("the guard of a count that can be zero is gone"),
    # duplicates_across_splits image_train.py:119
    "5416e7d7b101": _ok("rows drawn with replacement before the split"),
    # epsilon_missing gpt_model.py:32
    "86b258a81956": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # epsilon_missing lightning_classifier.py:12
    "1c57bbec42cd": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # epsilon_missing llama_modeling.py:21
    "57a2dd3dced5": _ok("the epsilon that keeps the root (or log) away from zero is gone"),
    # eval_mode_missing gpt_train.py:50
    "fdcd0c52e72d": _ok("evaluation runs with dropout and batch statistics on"),
    # eval_mode_missing image_train.py:73
    "d376b6215437": _ok("evaluation runs with dropout and batch statistics on"),
    # eval_mode_missing trainer_loop.py:89
    "fbc4bf737761": _ok("evaluation runs with dropout and batch statistics on"),
    # features_shuffled_without_labels image_train.py:125
    "ea81b049ee2d": _same("a subset of the rows against all labels: the lengths differ, it can only fail"),
    # features_shuffled_without_labels image_train.py:125
    "4dac0a942e7a": _same("a subset of the rows against all labels: the lengths differ, it can only fail"),
    # frozen_params_in_optimizer gpt_model.py:154
    "2819751e239a": _ok("frozen parameters reach the optimizer"),
    # heads_merged_without_transpose gpt_model.py:70
    "49b02717e5d2": _ok("heads folded back without swapping axes: positions interleaved"),
    # heads_split_without_transpose gpt_model.py:54
    "730f2d25459d": _ok("every split (or the fused permute) keeps heads after the sequence axis"),
    # heads_split_without_transpose llama_modeling.py:114
    "470b2d79ae27": _ok("every split (or the fused permute) keeps heads after the sequence axis"),
    # key_value_projections_swapped llama_modeling.py:121
    "e059cacddf31": _ok("k from v_proj and v from k_proj"),
    # kv_cache_dtype_ignored llama_modeling.py:68
    "f5494193cceb": _ok("the cache storage in float32 whatever dtype was asked"),
    # kv_cache_dtype_ignored llama_modeling.py:69
    "245f0465461c": _ok("the cache storage in float32 whatever dtype was asked"),
    # kv_cache_dtype_ignored llama_modeling.py:169
    "aee61149b272": _off("a dtype dropped from the zeros of a mask, not from a cache"),
    # kv_cache_length_advanced_before_write llama_modeling.py:74
    "5548a8d647b4": _ok("the position read for the write is already advanced"),
    # kv_cache_no_overflow_check llama_modeling.py:75
    "54708e2064f3": _ok("the bounds check of the cache is gone"),
    # kv_cache_reset_keeps_length llama_modeling.py:83
    "9f2660f228ca": _ok("reset() keeps the cached length"),
    # kv_cache_state_changed_before_raise llama_modeling.py:74
    "9d239c972486": _ok("the check runs after the write and the advance"),
    # kv_cache_wrong_slice llama_modeling.py:81
    "4dde4b3ace9f": _ok("the cache read back off by one or on the wrong axis"),
    # kv_cache_wrong_slice llama_modeling.py:81
    "dea240258084": _ok("the cache read back off by one or on the wrong axis"),
    # kv_cache_wrong_slice llama_modeling.py:81
    "786e41d17515": _ok("the cache read back off by one or on the wrong axis"),
    # layernorm_eps_outside_sqrt llama_modeling.py:21
    "87aa7ec28142": _ok("1 / (sqrt(var) + eps) instead of rsqrt(var + eps)"),
    # layernorm_wrong_axis llama_modeling.py:20
    "277ff0b080ae": _ok("the statistics over the axis before the features"),
    # log_of_softmax image_train.py:41
    "56ed94885f26": _ok("log of softmax: -inf once a probability underflows"),
    # loss_kept_as_tensor image_train.py:56
    "8a6d441b790d": _ok("the meter keeps the loss tensor and its graph (training)"),
    # loss_kept_as_tensor trainer_loop.py:102
    "1fd2df333508": _ok("the meter keeps the loss tensor and its graph (training)"),
    # lr_sign_flipped gpt_train.py:94
    "46df925edbd5": _ok("gradient ascent"),
    # lr_sign_flipped image_train.py:57
    "c766ab2a5f59": _ok("gradient ascent"),
    # lr_sign_flipped trainer_loop.py:61
    "4da399f567ea": _ok("gradient ascent"),
    # mask_polarity_inverted gpt_model.py:66
    "40a74297ac3f": _ok("the attention mask applied inverted"),
    # masked_fill_zero gpt_model.py:66
    "ebd7ab114226": _ok("masked scores (or the additive mask) 0 instead of -inf"),
    # masked_fill_zero llama_modeling.py:166
    "d51a8aa778c7": _ok("masked scores (or the additive mask) 0 instead of -inf"),
    # masks_combined_with_or image_train.py:108
    "85d0c1c6c576": _off("confusion-matrix booleans, not attention masks"),
    # masks_combined_with_or image_train.py:109
    "fc2e491f89d4": _off("confusion-matrix booleans, not attention masks"),
    # masks_combined_with_or image_train.py:110
    "f5a75fa85e16": _off("confusion-matrix booleans, not attention masks"),
    # mean_of_batch_means image_train.py:56
    "931bd46948bc": _ok("every batch weighs the same whatever its size"),
    # mean_of_batch_means image_train.py:85
    "8a4d4de71ff0": _ok("every batch weighs the same whatever its size"),
    # mean_of_batch_means image_train.py:90
    "b4af6e9c3f7c": _ok("every batch weighs the same whatever its size"),
    # mse_on_class_logits image_train.py:98
    "59870fa91fc6": _ok("MSE on one-hot targets instead of cross entropy"),
    # mse_on_class_logits lightning_classifier.py:53
    "4ff9066ed58c": _ok("MSE on one-hot targets instead of cross entropy"),
    # mse_on_class_logits lightning_classifier.py:77
    "4b9ccf9c16c2": _off(
        "the rewrite runs the model three times (one_hot size and dtype read from new calls)"
    ),
    # no_grad_missing gpt_model.py:168
    "57d839788db1": _ok("an evaluation forward pass builds a graph"),
    # no_grad_missing gpt_train.py:49
    "2bf4081f07b0": _ok("an evaluation forward pass builds a graph"),
    # no_grad_missing image_train.py:78
    "744d7303a20e": _ok("an evaluation forward pass builds a graph"),
    # output_projection_skipped gpt_model.py:71
    "7797e81bbd28": _ok("the output projection of attention skipped"),
    # output_projection_skipped llama_modeling.py:141
    "acc32baf3372": _ok("the output projection of attention skipped"),
    # param_missing_from_optimizer gpt_model.py:157
    "3ec49910b9fb": _ok("one parameter group left out of the optimizer"),
    # param_missing_from_optimizer trainer_loop.py:24
    "90390c1854d9": _ok("one parameter group left out of the optimizer"),
    # param_missing_from_optimizer gpt_model.py:157
    "847fd486a2a2": _ok("one parameter group left out of the optimizer"),
    # pe_dropout_skipped gpt_model.py:68
    "202cb30e46f9": _ok("a dropout removed, named for where it is"),
    # pe_dropout_skipped lightning_classifier.py:23
    "16ffd1e6c34a": _ok("a dropout removed, named for where it is"),
    # pe_dropout_skipped llama_modeling.py:137
    "b3bb4e35805e": _ok("a dropout removed, named for where it is"),
    # pe_parameter_not_buffer gpt_model.py:48
    "2904fc517293": _same("the mask only enters through == 0: no gradient, the optimizer never moves it"),
    # pe_parameter_not_buffer llama_modeling.py:29
    "e01dbf5c827b": _same(
        "the frequencies are only read under no_grad: no gradient, the optimizer never moves them"
    ),
    # pe_sin_cos_swapped llama_modeling.py:38
    "dc1b4911fbc1": _ok("cos on the even columns"),
    # pe_wrong_frequency_exponent llama_modeling.py:28
    "a7608b452f0d": _ok("frequencies with i instead of 2i, or the sign flipped"),
    # post_norm_instead_of_pre_norm gpt_model.py:100
    "c0737feba5c1": _ok("the norm moved after the residual add"),
    # post_norm_instead_of_pre_norm gpt_model.py:101
    "32af22753800": _ok("the norm moved after the residual add"),
    # residual_dropout_missing gpt_model.py:71
    "c0138e6124f3": _ok("the dropout after the output projection, before the residual add, removed"),
    # residual_dropout_missing gpt_model.py:87
    "7c679993cb48": _ok("the dropout after the output projection, before the residual add, removed"),
    # residual_dropped gpt_model.py:100
    "01432484f45f": _ok("the sub-layer output replaces the stream"),
    # residual_dropped gpt_model.py:101
    "58d0ed7d4d9c": _ok("the sub-layer output replaces the stream"),
    # softmax_wrong_dim gpt_model.py:67
    "defb6f509c17": _ok("normalized over the other axis"),
    # softmax_wrong_dim image_train.py:41
    "183cb3472ad1": _ok("normalized over the other axis"),
    # softmax_wrong_dim llama_modeling.py:136
    "ae2fd88f1e60": _ok("normalized over the other axis"),
    # split_indices_overlap image_train.py:121
    "91b46a0d71d2": _ok("the two parts share one element"),
    # step_every_microbatch gpt_train.py:79
    "91825bbb152e": _same(
        "a second scaler.step before update() raises: with the GradScaler it can only fail"
    ),
    # train_mode_missing gpt_train.py:50
    "b2a6a6976d55": _ok("training continues in eval mode after a validation"),
    # train_mode_missing image_train.py:46
    "794d9070e4df": _ok("training continues in eval mode after a validation"),
    # train_mode_missing trainer_loop.py:56
    "0a4672aa6e34": _ok("training continues in eval mode after a validation"),
    # weight_decay_on_bias_and_norm gpt_model.py:159
    "6f44839dbaed": _ok("the no-decay group decayed"),
    # weight_decay_on_bias_and_norm trainer_loop.py:31
    "caf1ad33ce28": _ok("the no-decay group decayed"),
    # wrong_norm_used gpt_model.py:101
    "c73f665297f3": _ok("the previous sub-layer's norm"),
    # zero_grad_inside_accumulation gpt_train.py:79
    "d80ea0d710ae": _ok("gradients zeroed every micro-batch: accumulation undone"),
    # zero_grad_inside_accumulation image_train.py:46
    "2613ae80c082": _ok("gradients zeroed every micro-batch: accumulation undone"),
    # zero_grad_missing gpt_train.py:79
    "3046f56b92bb": _ok("gradients accumulate across steps"),
    # zero_grad_missing image_train.py:59
    "ff8cc3cd9cfc": _ok("gradients accumulate across steps"),
    # zero_grad_missing lightning_classifier.py:81
    "813a2f16c286": _ok("gradients accumulate across steps"),
}

REVIEW: dict[str, Judgement] = {**_CORPUS, **_REALCODE}
