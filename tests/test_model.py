"""SignCLIP model: SPEC §2 parity with a stock BertModel, batching, attention backends, dtypes, heads, loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from signclip_hf.modeling import SignCLIPForVideoClassification, SignCLIPModel, signclip_loss
from transformers import AutoModel, AutoModelForVideoClassification, BertConfig, BertModel

from signclip_hf.sample_data import GESTURES_DIR, HOUSE_POSE

from fixtures.tiny import tiny_config, tiny_model, tiny_processor

CLIPS = [HOUSE_POSE, GESTURES_DIR / "signer07" / "hello" / "000.pose", GESTURES_DIR / "signer12" / "i_love_you" / "003.pose"]
PROMPTS = ["<en> <ase> house", "<en> <ase> hello", "<en> <ase> i love you"]


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


@pytest.fixture(scope="module")
def inputs(processor):
    return processor(text=PROMPTS, poses=CLIPS, return_tensors="pt")


def stock_bert(tower: BertModel) -> BertModel:
    """A plain transformers BertModel holding the same weights as one of our towers."""
    config = BertConfig(**{k: v for k, v in tower.config.to_dict().items() if k in BertConfig().to_dict()})
    bert = BertModel(config, add_pooling_layer=False).eval()
    bert.load_state_dict(tower.state_dict())
    return bert


def test_pose_tower_matches_spec_with_stock_bert(inputs):
    model = tiny_model(seed=1)
    tower = model.pose_model
    bert = stock_bert(tower.bert)
    words = bert.embeddings.word_embeddings.weight
    tokenizer = tower.frame_tokenizer
    expected = []
    for values, mask in zip(inputs["pose_values"], inputs["pose_attention_mask"]):
        frames = values[mask.bool()]  # one clip, unpadded
        hidden = F.linear(frames, tokenizer.linear1.weight, tokenizer.linear1.bias)
        hidden = F.layer_norm(F.gelu(hidden), (hidden.shape[-1],), tokenizer.layer_norm.weight, tokenizer.layer_norm.bias, 1e-5)
        tokens = F.linear(hidden, tokenizer.linear2.weight, tokenizer.linear2.bias)
        sequence = torch.cat([words[101][None], tokens, words[102][None]])[None]
        positions = torch.tensor([list(range(len(frames) + 1)) + [257]])  # SEP always at 257
        out = bert(inputs_embeds=sequence, position_ids=positions, token_type_ids=torch.zeros_like(positions))
        expected.append(out.last_hidden_state[0, 1:].mean(dim=0))  # mean over frames + SEP, CLS excluded
    with torch.no_grad():
        ours = model.get_pose_features(inputs["pose_values"], inputs["pose_attention_mask"]).pooler_output
    torch.testing.assert_close(ours, torch.stack(expected).detach(), atol=1e-5, rtol=0)


def test_text_tower_matches_spec_with_stock_bert(inputs):
    model = tiny_model(seed=2)
    bert = stock_bert(model.text_model)
    expected = []
    for ids, mask in zip(inputs["input_ids"], inputs["attention_mask"]):
        ids = ids[mask.bool()][None]
        expected.append(bert(input_ids=ids).last_hidden_state[0, 1:].mean(dim=0))
    with torch.no_grad():
        ours = model.get_text_features(inputs["input_ids"], inputs["attention_mask"]).pooler_output
    torch.testing.assert_close(ours, torch.stack(expected).detach(), atol=1e-5, rtol=0)


def test_forward_scores_are_dot_products(inputs):
    model = tiny_model()
    with torch.no_grad():
        out = model(**inputs, return_loss=True)
    torch.testing.assert_close(out.logits_per_pose, out.pose_embeds @ out.text_embeds.t())
    torch.testing.assert_close(out.logits_per_text, out.logits_per_pose.t())
    labels = torch.arange(3)
    expected = F.cross_entropy(out.logits_per_pose, labels) + F.cross_entropy(out.logits_per_text, labels)
    torch.testing.assert_close(out.loss, expected)


def test_loss_hand_computed():
    logits = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    rows = -torch.log_softmax(logits, 1).diagonal().mean()
    cols = -torch.log_softmax(logits.t(), 1).diagonal().mean()
    assert signclip_loss(logits).item() == pytest.approx((rows + cols).item())
    assert signclip_loss(torch.eye(2) * 100).item() == pytest.approx(0.0, abs=1e-6)


def test_batched_equals_single(processor, inputs):
    model = tiny_model(seed=3)
    with torch.no_grad():
        batched = model.get_pose_features(inputs["pose_values"], inputs["pose_attention_mask"]).pooler_output
        single = torch.cat(
            [model.get_pose_features(**processor(poses=clip, return_tensors="pt")).pooler_output for clip in CLIPS]
        )
        padded = model.get_pose_features(
            **tiny_processor(padding="max_length")(poses=CLIPS, return_tensors="pt")
        ).pooler_output
        texts = model.get_text_features(inputs["input_ids"], inputs["attention_mask"]).pooler_output
        text_single = torch.cat(
            [model.get_text_features(**processor.tokenizer(p, return_tensors="pt")).pooler_output for p in PROMPTS]
        )
    torch.testing.assert_close(single, batched, atol=1e-5, rtol=0)
    torch.testing.assert_close(padded, batched, atol=1e-5, rtol=0)
    torch.testing.assert_close(text_single, texts, atol=1e-5, rtol=0)


def test_sdpa_default_and_eager_agree(inputs, tmp_path):
    tiny_model(seed=4).save_pretrained(tmp_path)
    sdpa = AutoModel.from_pretrained(tmp_path).eval()
    eager = AutoModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert sdpa.pose_model.bert.config._attn_implementation == "sdpa"
    assert eager.pose_model.bert.config._attn_implementation == "eager"
    assert eager.text_model.config._attn_implementation == "eager"
    with torch.no_grad():
        torch.testing.assert_close(sdpa(**inputs).logits_per_pose, eager(**inputs).logits_per_pose, atol=1e-5, rtol=0)


def test_bf16(inputs, tmp_path):
    tiny_model(seed=5).save_pretrained(tmp_path)
    full = AutoModel.from_pretrained(tmp_path).eval()
    half = AutoModel.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    with torch.no_grad():
        reference = full(**inputs).logits_per_pose
        low = half(**inputs).logits_per_pose
    assert low.dtype == torch.bfloat16
    assert (low.float() - reference).abs().max() <= 0.05 * reference.abs().max()


def test_long_input_to_model_is_refused(processor):
    """The feature extractor owns the long-clip policy; the model refuses what its positions cannot hold."""
    model = tiny_model(seed=6)
    with torch.no_grad(), pytest.raises(ValueError, match="pose_values has 300 frames .* max_frames=256"):
        model.get_pose_features(torch.randn(2, 300, 609), torch.ones(2, 300, dtype=torch.long))
    fitted = processor.feature_extractor.pad([np.random.default_rng(0).normal(size=(300, 609))], return_tensors="pt")
    assert fitted["pose_values"].shape == (1, 256, 609)
    with torch.no_grad():
        assert model.get_pose_features(**fitted).pooler_output.shape == (1, 32)


def test_cosine_score_with_projection(inputs):
    model = tiny_model(seed=7, projection_dim=16, score_type="cosine")
    with torch.no_grad():
        out = model(**inputs)
    assert out.pose_embeds.shape == (3, 16)
    torch.testing.assert_close(out.pose_embeds.norm(dim=-1), torch.ones(3))
    scale = torch.tensor(2.6592).exp()
    torch.testing.assert_close(out.logits_per_pose, scale * out.pose_embeds @ out.text_embeds.t())


def test_gradients_reach_both_towers(inputs):
    model = tiny_model(seed=8).train()
    model(**inputs, return_loss=True).loss.backward()
    assert model.pose_model.frame_tokenizer.linear1.weight.grad.abs().sum() > 0
    assert model.text_model.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_save_load_round_trip(inputs, tmp_path):
    model = tiny_model(seed=9)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is SignCLIPModel
    # non-persistent buffers are rebuilt after meta-device loading (SPEC §5)
    assert loaded.pose_model.bert.embeddings.position_ids[0, :4].tolist() == [0, 1, 2, 3]
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits_per_pose, model(**inputs).logits_per_pose, atol=0, rtol=0)


def test_classification_head_starts_as_zero_shot(inputs, tmp_path):
    clip = tiny_model(seed=10)
    clip.save_pretrained(tmp_path / "clip")
    labels = {0: "house", 1: "hello", 2: "i love you"}
    head = SignCLIPForVideoClassification.from_pretrained(
        tmp_path / "clip", id2label=labels, label2id={v: k for k, v in labels.items()}
    ).eval()
    torch.testing.assert_close(
        head.pose_model.frame_tokenizer.linear1.weight, clip.pose_model.frame_tokenizer.linear1.weight
    )
    with torch.no_grad():
        zero_shot = clip(**inputs)
        head.init_classifier_from_text_embeds(zero_shot.text_embeds)
        out = head(inputs["pose_values"], inputs["pose_attention_mask"], labels=torch.tensor([0, 1, 2]))
    torch.testing.assert_close(out.logits, zero_shot.logits_per_pose, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.loss, F.cross_entropy(zero_shot.logits_per_pose, torch.tensor([0, 1, 2])), atol=1e-5, rtol=0)
    head.save_pretrained(tmp_path / "head")
    loaded = AutoModelForVideoClassification.from_pretrained(tmp_path / "head").eval()
    assert type(loaded) is SignCLIPForVideoClassification
    with torch.no_grad():
        predicted = loaded(inputs["pose_values"], inputs["pose_attention_mask"]).logits.argmax(-1)
    assert [loaded.config.id2label[int(i)] for i in predicted] == [labels[int(i)] for i in out.logits.argmax(-1)]


def test_classification_loss_divides_by_items_in_batch(inputs):
    torch.manual_seed(0)
    head = SignCLIPForVideoClassification(tiny_config(num_labels=3)).eval()
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        mean = head(inputs["pose_values"], inputs["pose_attention_mask"], labels=labels).loss
        summed = head(inputs["pose_values"], inputs["pose_attention_mask"], labels=labels, num_items_in_batch=6).loss
    torch.testing.assert_close(summed, mean * 3 / 6)
    assert SignCLIPForVideoClassification.accepts_loss_kwargs


def test_build_model_starts_both_towers_from_the_text_checkpoint():
    from signclip_hf.model_factory import ModelSpec, build_model

    model = build_model(ModelSpec(pose_layers=2))
    pose, text = model.pose_model.bert, model.text_model
    torch.testing.assert_close(pose.encoder.layer[1].output.dense.weight, text.encoder.layer[1].output.dense.weight)
    torch.testing.assert_close(pose.embeddings.word_embeddings.weight, text.embeddings.word_embeddings.weight[:103])
    assert len(pose.encoder.layer) == 2 and len(text.encoder.layer) == 6


def test_build_processor_carries_the_handedness_switch():
    from signclip_hf.model_factory import ModelSpec, build_processor

    extractor = build_processor(ModelSpec(mirror_left_handed=True, left_handed_rule="left_hand_busier")).feature_extractor
    assert extractor.mirror_left_handed and extractor.left_handed_rule == "left_hand_busier"
    plain = build_processor(ModelSpec(mirror_left_handed=False)).feature_extractor
    assert not plain.mirror_left_handed


def test_gradient_checkpointing_gives_the_same_gradients(inputs):
    """`gradient_checkpointing: true` (pretraining config) recomputes activations: same loss and gradients."""
    results = []
    for checkpointing in (False, True):
        model = tiny_model(layers=2).train()
        model.config.pose_config.hidden_dropout_prob = model.config.pose_config.attention_probs_dropout_prob = 0.0
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        if checkpointing:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        recomputed = []
        hook = model.pose_model.bert.encoder.layer[0].attention.register_forward_hook(lambda *_: recomputed.append(1))
        loss = signclip_loss(model(**inputs).logits_per_pose)
        loss.backward()
        hook.remove()
        assert len(recomputed) == (2 if checkpointing else 1)  # the layer ran again in the backward pass
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], atol=1e-6, rtol=1e-5, msg=name)
