"""Evaluation end to end on the bundled real sample with a tiny model: embedding cache, gallery search,
zero-shot / few-shot / linear probe / retrieval, plots, the evaluate CLI, and Trainer fine-tuning."""

import json
import warnings

import numpy as np
import pytest
import torch
from datasets import DatasetDict
from transformers import AutoModelForVideoClassification, TrainerCallback, pipeline

from signclip_hf.cli import main
from signclip_hf.data.build import build_dataset
from signclip_hf.data.labels import class_prompts
from signclip_hf.evaluation import (
    EvaluationConfig,
    embed_dataset,
    embed_texts,
    embeddings_of,
    few_shot,
    linear_probe,
    retrieval,
    run_evaluation,
    search,
    zero_shot,
)
from signclip_hf.evaluation.plots import plot_confusion_matrix, plot_dataset_embeddings
from signclip_hf.metrics import load_metric
from signclip_hf.sample_data import GESTURES_DIR
from signclip_hf.training.finetune import (
    FinetuneArguments,
    classifier_from_signclip,
    finetune,
    layerwise_learning_rates,
    training_arguments,
    weight_space_ensemble,
    zero_shot_candidate,
)

from fixtures.tiny import tiny_model, tiny_processor

NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    built, _ = build_dataset(GESTURES_DIR, output=tmp_path_factory.mktemp("data") / "gestures")
    return built


@pytest.fixture(scope="module")
def model():
    config = dict(pose_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                   intermediate_size=64, vocab_size=128, **NO_DROPOUT),
                  text_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                   intermediate_size=64, model_type="bert", vocab_size=30522, **NO_DROPOUT))
    return tiny_model(seed=0, **config)


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


@pytest.fixture(scope="module")
def embedded(model, processor, dataset):
    return embed_dataset(model, processor, dataset, batch_size=16)


def by_signer(dataset, signer, labels=None):
    rows = [i for i, (s, l) in enumerate(zip(dataset["signer"], dataset["label"]))
            if s == signer and (labels is None or l in labels)]
    return dataset.select(rows)


def test_embedding_cache_matches_the_model_and_is_reused(model, processor, dataset, embedded):
    files = [str(GESTURES_DIR / f) for f in dataset["file"][:3]]
    with torch.no_grad():
        direct = model.get_pose_features(**processor(poses=files, return_tensors="pt")).pooler_output.numpy()
    np.testing.assert_allclose(embeddings_of(embedded)[:3], direct, rtol=1e-4, atol=1e-5)
    again = embed_dataset(model, processor, dataset, batch_size=16)
    assert again.cache_files == embedded.cache_files  # same Arrow cache file, next to the saved dataset
    other = tiny_model(seed=1, pose_config=model.config.pose_config.to_dict(),
                       text_config=model.config.text_config.to_dict())
    assert embed_dataset(other, processor, dataset, batch_size=16).cache_files != embedded.cache_files


def test_search_matches_brute_force_for_any_chunk_size():
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(500, 16)).astype(np.float32)
    gallery[10] = gallery[20]  # duplicate items tie exactly
    queries = rng.normal(size=(7, 16)).astype(np.float32)
    positives = np.array([20, 1, 2, 3, 499, 250, 0])
    scores = queries @ gallery.T
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    pessimistic = (scores >= scores[np.arange(7), positives][:, None]).sum(axis=1)
    for chunk_size in (7, 64, 10_000):
        result = search(queries, gallery, k=10, chunk_size=chunk_size, positives=positives)
        np.testing.assert_array_equal(result.indices, expected)
        np.testing.assert_allclose(result.scores, np.take_along_axis(scores, expected, 1), rtol=1e-5)
        np.testing.assert_array_equal(result.positive_ranks, pessimistic)
    assert pessimistic[0] >= 2  # query 0's positive (item 20) is tied with item 10: ranked after it


def test_zero_shot_is_argmax_over_gloss_prompts(model, processor, embedded):
    result = zero_shot(model, processor, embedded)
    names, prompts = class_prompts(embedded)
    assert names == ["hello", "i love you", "see you later", "thank you"]
    assert prompts[1] == "<en> <ase> i love you"
    files = [str(GESTURES_DIR / f) for f in embedded["file"][:5]]
    with torch.no_grad():
        logits = model(**processor(text=prompts, poses=files, return_tensors="pt")).logits_per_pose.numpy()
    np.testing.assert_allclose(result.scores[:5], logits, rtol=1e-4, atol=1e-4)
    labels = embedded["label"]
    manual = np.mean([names[p] == l for p, l in zip(result.scores.argmax(1), labels)])
    assert result.metrics["top1_accuracy"] == pytest.approx(manual)
    assert result.metrics["num_examples"] == 120 and result.to_dict()["class_names"] == names


def test_few_shot_prototypes(embedded):
    support, query = by_signer(embedded, "signer07"), by_signer(embedded, "signer12")
    result = few_shot(None, None, support, query, shots=(1, 20), seeds=(0, 1))
    assert result.skipped_labels == ["i love you"]  # signer07 never signs it: no support
    assert result.metrics["1-shot"]["num_examples"] == 40
    # k = every support clip: class score = dot with the class mean, identical for all seeds
    assert result.metrics["20-shot"]["top1_accuracy_std"] == 0.0
    support_embeds, labels = embeddings_of(support), np.array(support["label"])
    means = np.stack([support_embeds[labels == c].mean(0) for c in ["hello", "see you later", "thank you"]])
    np.testing.assert_allclose(result.runs["20-shot"][0].scores, embeddings_of(result_query(query)) @ means.T,
                               rtol=1e-4, atol=1e-4)
    # k = 1: the prototype is one support clip drawn by the seed
    run = result.runs["1-shot"][0]
    rng = np.random.default_rng(0)
    chosen = [rng.choice(np.flatnonzero(labels == c), size=1, replace=False) for c in run.class_names]
    np.testing.assert_allclose(run.scores[:, 0], embeddings_of(result_query(query)) @ support_embeds[chosen[0][0]],
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="no class to predict"):
        few_shot(None, None, support, query, shots=(1,), unknown_labels="error")


def result_query(query):
    return query.select([i for i, label in enumerate(query["label"]) if label != "i love you"])


def test_linear_probe_fits_frozen_embeddings(embedded):
    signer07 = by_signer(embedded, "signer07")
    from signclip_hf.evaluation.protocols import linear_probe_on_embeddings

    # separable on its own training clips (the embedding-level protocol; `linear_probe` refuses this overlap)
    embeds, labels = embeddings_of(signer07), list(signer07["label"])
    assert linear_probe_on_embeddings(embeds, labels, embeds, labels).metrics["top1_accuracy"] >= 0.9
    cross = linear_probe(None, None, signer07, by_signer(embedded, "signer12"))
    assert cross.class_names == ["hello", "see you later", "thank you"] and cross.metrics["num_examples"] == 40
    assert cross.scores.shape == (40, 3)


def test_retrieval_protocol_uses_deduplicated_prompts(model, processor, embedded):
    result = retrieval(model, processor, embedded)
    assert result.prompts == ["<en> <ase> hello", "<en> <ase> see you later", "<en> <ase> thank you",
                              "<en> <ase> i love you"]
    text_embeds = embed_texts(model, processor, result.prompts)
    references = [result.prompts.index(f"<en> <ase> {label}") for label in embedded["label"]]
    expected = load_metric("retrieval").compute(predictions=embeddings_of(embedded) @ text_embeds.T,
                                                references=references)
    assert result.metrics == expected
    assert result.metrics["num_text_queries"] == 4 and result.metrics["num_pose_queries"] == 120


def test_plots_are_real_pictures(embedded, tmp_path):
    from matplotlib.image import imread

    space = plot_dataset_embeddings(embedded, tmp_path / "space.png")
    confusion = plot_confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], ["hello", "thank you", "i love you"],
                                      tmp_path / "confusion.png")
    for path, min_kb in ((space, 40), (confusion, 10)):
        assert path.stat().st_size > min_kb * 1024
        pixels = imread(path)[..., :3].reshape(-1, 3)
        assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 100  # colours, not a blank canvas


@pytest.fixture(scope="module")
def saved(model, processor, tmp_path_factory):
    """(model directory, dataset directory with a signer-independent train / test split)."""
    root = tmp_path_factory.mktemp("saved")
    model.save_pretrained(root / "model")
    processor.save_pretrained(root / "model")
    build_dataset(GESTURES_DIR, output=root / "data", signer_split=0.5)
    return root / "model", root / "data"


def test_evaluate_cli_writes_table_and_json(saved, tmp_path, capsys):
    model_dir, data_dir = saved
    assert main(["evaluate", str(model_dir), str(data_dir), "--task", "retrieval", "--task", "zero-shot",
                 "--task", "few-shot", "--shots", "1,5", "--output", str(tmp_path / "results.json")]) == 0
    table = capsys.readouterr().out
    assert "v2t_R@10" in table and "5-shot" in table
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert set(results) == {"retrieval", "zero-shot", "few-shot"}
    assert set(results["few-shot"]["metrics"]) == {"1-shot", "5-shot"}
    assert 0.0 <= results["zero-shot"]["metrics"]["top1_accuracy"] <= 1.0


def test_finetune_cli_skips_glosses_unseen_in_training(saved, tmp_path):
    model_dir, data_dir = saved
    output = tmp_path / "islr"
    assert main(["finetune", str(model_dir), str(data_dir), "--output", str(output), "--max-steps", "2",
                 "--batch-size", "8", "--no-augment"]) == 0
    report = json.loads((output / "finetune_results.json").read_text())
    # the two sample signers share hello / thank you; each has one gloss the other lacks
    assert len(report["skipped_eval_labels"]) == 1 and report["metrics"]["eval_num_examples"] == 40
    assert AutoModelForVideoClassification.from_pretrained(output).config.label2id.keys() == set(report["class_names"])


def test_classifier_starts_as_zero_shot(model, processor, embedded):
    names, prompts = class_prompts(embedded)
    classifier = classifier_from_signclip(model, processor, names, prompts).eval()
    batch = processor(poses=[str(GESTURES_DIR / f) for f in embedded["file"][::10]], return_tensors="pt")
    with torch.no_grad():
        logits = classifier(**batch).logits.numpy()
    expected = zero_shot(model, processor, embedded).scores[::10]
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    assert classifier.config.id2label[3] == "thank you" and classifier.config.label2id["hello"] == 0


def test_finetune_trainer_saves_a_gloss_classifier(model, processor, embedded, tmp_path):
    train = by_signer(embedded, "signer07", {"hello", "thank you"})
    held_out = by_signer(embedded, "signer12", {"hello", "thank you"})
    training_args = training_arguments(str(tmp_path / "islr"), num_train_epochs=2, per_device_train_batch_size=8,
                                       learning_rate=1e-3, logging_steps=1)
    result = finetune(model, train, held_out, FinetuneArguments(early_stopping_patience=1), training_args,
                      processor=processor)
    first_eval = next(h for h in result.log_history if "eval_top1_accuracy" in h)
    assert first_eval["step"] == 0  # evaluated before training: the zero-shot classifier
    zero_shot_top1 = zero_shot(model, processor, held_out).metrics["top1_accuracy"]
    assert first_eval["eval_top1_accuracy"] == pytest.approx(zero_shot_top1)
    assert {"eval_top1_accuracy", "eval_macro_accuracy", "eval_top5_accuracy"} <= set(result.metrics)
    loaded = AutoModelForVideoClassification.from_pretrained(result.output_dir).eval()
    assert loaded.config.id2label == {0: "hello", 1: "thank you"}
    files = [str(GESTURES_DIR / f) for f in held_out["file"][:4]]
    inputs = processor(poses=files, return_tensors="pt")
    with torch.no_grad():
        logits = loaded(**inputs).logits
        np.testing.assert_allclose(logits.numpy(), result.model.eval()(**inputs).logits.numpy(), rtol=1e-5, atol=1e-5)
    assert all(loaded.config.id2label[int(i)] in {"hello", "thank you"} for i in logits.argmax(-1))
    assert (result.output_dir / "processor_config.json").is_file()
    predictions = pipeline(model=str(result.output_dir), trust_remote_code=True)(files[0])
    assert predictions[0]["label"] == loaded.config.id2label[int(logits[0].argmax())]


class FirstStepRecorder(TrainerCallback):
    """Hooks the trained model: records each forward's `num_items_in_batch` and loss, and the classifier's
    gradient just before the first optimizer step."""

    def __init__(self):
        self.gradient, self.losses, self.num_items = None, [], []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        model.register_forward_hook(self.record, with_kwargs=True)

    def record(self, module, args, kwargs, output):
        if self.gradient is None:
            self.num_items.append(int(kwargs["num_items_in_batch"]))
            if output.loss is not None:  # None with label smoothing: Trainer computes the loss from the logits
                self.losses.append(float(output.loss.detach()))

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if self.gradient is None:
            self.gradient = model.classifier.weight.grad.detach().clone()


def test_gradient_accumulation_matches_one_large_batch(model, processor, embedded, tmp_path):
    train = by_signer(embedded, "signer12")
    runs = {}
    for batch_size, accumulation in ((4, 1), (2, 2)):
        runs[accumulation] = FirstStepRecorder()
        training_args = training_arguments(str(tmp_path / f"run{batch_size}"), max_steps=1,
                                           train_sampling_strategy="random", per_device_train_batch_size=batch_size,
                                           gradient_accumulation_steps=accumulation,
                                           label_smoothing_factor=0.0)  # the model's own loss
        finetune(model, train, None, FinetuneArguments(augment=False, resume=False), training_args,
                 processor=processor, callbacks=[runs[accumulation]])
    assert runs[2].num_items == [4, 4]  # Trainer passes the items of the whole accumulated batch
    assert runs[1].num_items == [4]
    assert sum(runs[2].losses) == pytest.approx(runs[1].losses[0], rel=1e-5)
    torch.testing.assert_close(runs[2].gradient, runs[1].gradient, rtol=1e-5, atol=1e-6)


def test_label_smoothing_is_the_trained_loss_and_accumulates_like_one_batch(model, processor, embedded, tmp_path):
    train = by_signer(embedded, "signer12")
    runs, trainers = {}, {}
    for batch_size, accumulation in ((4, 1), (2, 2)):
        runs[accumulation] = FirstStepRecorder()
        training_args = training_arguments(str(tmp_path / f"run{batch_size}"), max_steps=1,
                                           train_sampling_strategy="random", per_device_train_batch_size=batch_size,
                                           gradient_accumulation_steps=accumulation, label_smoothing_factor=0.1)
        trainers[accumulation] = finetune(model, train, None, FinetuneArguments(augment=False, resume=False),
                                          training_args, processor=processor, callbacks=[runs[accumulation]]).trainer
    # the smoothed loss is normalized by the whole accumulated batch, as the model's own loss
    assert runs[2].num_items == [4, 4] and runs[2].losses == []  # the model computed no loss itself
    torch.testing.assert_close(runs[2].gradient, runs[1].gradient, rtol=1e-5, atol=1e-6)
    trainer = trainers[1]
    batch = trainer.eval_data_collator(list(train.with_format("numpy").select(range(6))))
    classifier = trainer.model.eval()
    with torch.no_grad():
        logits = classifier(batch["pose_values"], batch["pose_attention_mask"]).logits
        loss = trainer.compute_loss(classifier, dict(batch))
    smoothed = torch.nn.functional.cross_entropy(logits, batch["labels"], label_smoothing=0.1)
    assert float(loss) == pytest.approx(float(smoothed), rel=1e-5)
    assert float(loss) != pytest.approx(float(torch.nn.functional.cross_entropy(logits, batch["labels"])), rel=1e-3)


def test_layer_lr_decay_gives_lower_pose_layers_smaller_learning_rates(model, processor, embedded, tmp_path):
    names, prompts = class_prompts(embedded)
    rates = layerwise_learning_rates(classifier_from_signclip(model, processor, names, prompts), 1e-3, 0.5)
    assert sorted(set(rates.values()), reverse=True) == pytest.approx([1e-3, 5e-4, 2.5e-4])  # head, 1 layer, embeddings
    assert rates["classifier.weight"] == rates["classifier.bias"] == 1e-3
    assert rates["pose_model.bert.encoder.layer.0.attention.self.query.weight"] == pytest.approx(5e-4)
    assert rates["pose_model.bert.embeddings.position_embeddings.weight"] == pytest.approx(2.5e-4)
    training_args = training_arguments(str(tmp_path / "llrd"), max_steps=1, learning_rate=1e-3, weight_decay=0.01)
    trainer = finetune(model, by_signer(embedded, "signer12"), None,
                       FinetuneArguments(augment=False, resume=False, layer_lr_decay=0.5), training_args,
                       processor=processor).trainer
    groups = trainer.optimizer.param_groups
    assert [g["initial_lr"] for g in groups] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4])
    group_of = {id(p): g for g in groups for p in g["params"]}
    named = dict(trainer.model.named_parameters())
    assert len(group_of) == sum(len(g["params"]) for g in groups) == len(named) == len(rates)  # each one once
    decayed = set(trainer.get_decay_parameter_names(trainer.model))
    assert "classifier.weight" in decayed and "classifier.bias" not in decayed
    for name, parameter in named.items():
        assert group_of[id(parameter)]["initial_lr"] == pytest.approx(rates[name])
        assert group_of[id(parameter)]["weight_decay"] == (0.01 if name in decayed else 0.0)
    plain = finetune(model, by_signer(embedded, "signer12"), None,
                     FinetuneArguments(augment=False, resume=False, layer_lr_decay=1.0),
                     training_arguments(str(tmp_path / "plain"), max_steps=1, learning_rate=1e-3),
                     processor=processor).trainer
    assert [g["initial_lr"] for g in plain.optimizer.param_groups] == [1e-3, 1e-3]  # off: Trainer's two groups


def test_wise_ft_saves_the_interpolation_between_zero_shot_and_fine_tuned(model, processor, embedded, tmp_path):
    train = by_signer(embedded, "signer12")
    names, prompts = class_prompts(train)
    zero_shot = classifier_from_signclip(model, processor, names, prompts).state_dict()
    tuned = {}
    for alpha in (1.0, 0.25):
        training_args = training_arguments(str(tmp_path / f"alpha{alpha}"), max_steps=2, learning_rate=1e-2,
                                           train_sampling_strategy="random")
        tuned[alpha] = finetune(model, train, None, FinetuneArguments(augment=False, resume=False, wise_ft_alpha=alpha),
                                training_args, processor=processor)
    full, mixed = tuned[1.0].model.state_dict(), tuned[0.25].model.state_dict()
    moved = [name for name in full if not torch.equal(full[name], zero_shot[name])]
    assert "classifier.weight" in moved and any(name.startswith("pose_model.") for name in moved)
    for name in full:  # same seed, same steps: the saved weights are a quarter of the way from zero-shot
        torch.testing.assert_close(mixed[name], zero_shot[name] + 0.25 * (full[name] - zero_shot[name]))
    saved = AutoModelForVideoClassification.from_pretrained(tuned[0.25].output_dir).state_dict()
    torch.testing.assert_close(saved["classifier.weight"], mixed["classifier.weight"])
    ends = weight_space_ensemble(zero_shot, full, 0.0)
    assert all(torch.equal(ends[name], zero_shot[name]) for name in ends)
    with pytest.raises(ValueError, match="wise_ft_alpha must be in"):
        FinetuneArguments(wise_ft_alpha=1.5)


def test_load_splits_names_the_splits_there_are(embedded):
    from datasets import DatasetDict

    from signclip_hf.data.splits import load_splits

    parts = DatasetDict({"train": by_signer(embedded, "signer07"), "test": by_signer(embedded, "signer12")})
    train, test = load_splits(parts, "train", "test")
    assert set(train["signer"]) == {"signer07"} and set(test["signer"]) == {"signer12"}
    assert load_splits(parts, None, "test")[0] is None
    with pytest.raises(ValueError, match=r"no split 'validation'; splits: \['train', 'test'\]"):
        load_splits(parts, "train", "validation")
    with pytest.raises(ValueError, match="expected a dataset with splits"):
        load_splits(embedded, "train", "test")
    assert load_splits(embedded, "train", "test", allow_unsplit=True) == (embedded, embedded)


def test_run_evaluation_embeds_once_then_scores(model, processor, embedded, monkeypatch):
    from signclip_hf.evaluation import run as run_module

    calls = {"texts": [], "poses": 0}
    embed_texts_once, embed_dataset_once = run_module.embed_texts, run_module.embed_dataset

    def count_texts(model, processor, prompts):
        calls["texts"].append(list(prompts))
        return embed_texts_once(model, processor, prompts)

    def count_poses(*args, **kwargs):
        calls["poses"] += 1
        return embed_dataset_once(*args, **kwargs)

    monkeypatch.setattr(run_module, "embed_texts", count_texts)
    monkeypatch.setattr(run_module, "embed_dataset", count_poses)
    parts = DatasetDict({"train": by_signer(embedded, "signer07"), "test": by_signer(embedded, "signer12")})
    config = EvaluationConfig(tasks=("retrieval", "zero-shot", "few-shot", "linear-probe"), shots=(1,), seeds=(0,))
    results = run_evaluation(model, processor, parts, config)
    assert calls["poses"] == 2  # the evaluated and the training split
    glosses = len(set(parts["test"]["label"]))  # 3: signer12 never signs one of the 4
    assert len(calls["texts"]) == 1 and len(calls["texts"][0]) == len(set(calls["texts"][0])) == glosses == 3
    np.testing.assert_allclose(results["zero-shot"].scores, zero_shot(model, processor, parts["test"]).scores,
                               rtol=1e-6, atol=1e-6)  # the class prompts embedded in one batch with the others
    assert results["retrieval"].metrics == retrieval(model, processor, parts["test"]).metrics
    few = few_shot(model, processor, parts["train"], parts["test"], shots=(1,), seeds=(0,))
    assert results["few-shot"].metrics == few.metrics
    assert run_evaluation(model, processor, parts, tasks=config.tasks, shots=(1,), seeds=(0,)).keys() == results.keys()


def test_unsplit_dataset_is_split_by_signer_never_support_equal_query(model, processor, embedded):
    """Few-shot support and query must not be the same clips: a dataset without splits is split by signer."""
    from signclip_hf.data.splits import signer_independent_split

    config = EvaluationConfig(tasks=("zero-shot", "few-shot", "linear-probe"), shots=(1,), seeds=(0,))
    with pytest.warns(UserWarning, match=r"no splits: .* signer-independent split .*trained on \d+ clips of \['signer"):
        results = run_evaluation(model, processor, embedded, config)
    expected = signer_independent_split(embedded, test_size=config.signer_split, seed=config.seed)
    assert set(expected["train"]["signer"]).isdisjoint(expected["test"]["signer"])
    assert results["few-shot"].metrics == few_shot(model, processor, expected["train"], expected["test"],
                                                   shots=(1,), seeds=(0,)).metrics  # fmt: skip
    np.testing.assert_allclose(results["zero-shot"].scores, zero_shot(model, processor, expected["test"]).scores,
                               rtol=1e-6, atol=1e-6)  # fmt: skip
    assert len(results["few-shot"].runs["1-shot"][0].references) < len(embedded)
    with pytest.raises(ValueError, match=r"no splits and no 'signer' column .*few-shot, linear-probe would train "
                                         r"and test on the same clips"):
        run_evaluation(model, processor, embedded.remove_columns("signer"), config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no training protocol: the whole unsplit dataset is evaluated, no warning
        assert run_evaluation(model, processor, embedded, tasks=("zero-shot",))["zero-shot"].metrics == \
            zero_shot(model, processor, embedded).metrics


def test_training_protocols_refuse_to_train_and_test_on_the_same_clips(model, processor, embedded):
    """Support = query (the same dataset, the same split, or shared files) is an error, never an inflated number."""
    with pytest.raises(ValueError, match=r"few-shot would train and test on the same clips \(\d+ shared\)"):
        few_shot(model, processor, embedded, embedded, shots=(1,), seeds=(0,))
    half = embedded.select(range(len(embedded) // 2))
    with pytest.raises(ValueError, match=r"linear-probe would train and test on the same clips \(\d+ shared\)"):
        linear_probe(model, processor, embedded, half)
    parts = DatasetDict({"train": by_signer(embedded, "signer07"), "test": by_signer(embedded, "signer12")})
    with pytest.raises(ValueError, match=r"few-shot would train and test on the same clips: split 'train' is both"):
        run_evaluation(model, processor, parts, tasks=("few-shot",), split="train", shots=(1,), seeds=(0,))
    leaky = DatasetDict({"train": embedded, "test": parts["test"]})  # the test clips are also in train
    with pytest.raises(ValueError, match=r"few-shot would train and test on the same clips \(\d+ shared\)"):
        run_evaluation(model, processor, leaky, tasks=("few-shot",), shots=(1,), seeds=(0,))


def test_protocol_registry_is_one_entry_per_protocol(model, processor, embedded):
    from signclip_hf.evaluation import run as run_module

    assert run_module.TASKS == tuple(run_module.PROTOCOLS)
    assert {n for n, p in run_module.PROTOCOLS.items() if p.needs_train} == {"few-shot", "linear-probe"}
    counted = run_module.Protocol(needs_train=False, run=lambda test, train, text: {"clips": len(test.labels)})
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(run_module.PROTOCOLS, "count", counted)
        assert run_evaluation(model, processor, embedded, tasks=("count",))["count"] == {"clips": len(embedded)}
    with pytest.raises(ValueError, match="unknown task 'count'"):
        EvaluationConfig(tasks=("count",))


def test_zero_shot_classifier_competes_with_the_best_fine_tuned_checkpoint(model, processor, embedded, tmp_path):
    """`keep_zero_shot`: the starting (zero-shot) weights are compared with the best fine-tuned checkpoint on
    the evaluation split; the winner is what `finetune` returns, saves and reports."""
    train = by_signer(embedded, "signer07", {"hello", "thank you"})
    held_out = by_signer(embedded, "signer12", {"hello", "thank you"})
    names, prompts = class_prompts(train)
    start = classifier_from_signclip(model, processor, names, prompts).state_dict()
    runs = {}
    for keep in (True, False):
        training_args = training_arguments(str(tmp_path / f"keep{keep}"), max_steps=3, learning_rate=1e-2,
                                           eval_strategy="steps", save_strategy="steps", eval_steps=1, save_steps=1)
        runs[keep] = finetune(model, train, held_out, FinetuneArguments(augment=False, keep_zero_shot=keep),
                              training_args, processor=processor)
    assert runs[False].selection is None
    selection = runs[True].selection
    assert selection["metric"] == "eval_top1_accuracy"
    assert selection["zero_shot"] == pytest.approx(zero_shot(model, processor, held_out).metrics["top1_accuracy"])
    assert selection["fine_tuned"] == pytest.approx(runs[False].metrics["eval_top1_accuracy"])
    winner = "zero-shot" if selection["zero_shot"] >= selection["fine_tuned"] else "fine-tuned"
    assert selection["selected"] == winner
    expected = start if winner == "zero-shot" else runs[False].model.state_dict()
    saved = AutoModelForVideoClassification.from_pretrained(runs[True].output_dir).state_dict()
    for name in expected:
        torch.testing.assert_close(saved[name], expected[name])
    assert runs[True].metrics["eval_top1_accuracy"] == pytest.approx(max(selection["zero_shot"], selection["fine_tuned"]))
    report = json.loads((runs[True].output_dir / "finetune_results.json").read_text())["checkpoint_selection"]
    assert report["selected"] == winner and report["metric"] == "eval_top1_accuracy"
    # both branches, whatever this tiny run gave: a fine-tuned score above / below every zero-shot score
    trainer, tuned = runs[False].trainer, {k: v.clone() for k, v in runs[False].model.state_dict().items()}
    assert zero_shot_candidate(trainer, start, {"eval_top1_accuracy": 1.5})["selected"] == "fine-tuned"
    assert all(torch.equal(trainer.model.state_dict()[k], tuned[k]) for k in tuned)
    assert zero_shot_candidate(trainer, start, {"eval_top1_accuracy": -0.5})["selected"] == "zero-shot"
    assert all(torch.equal(trainer.model.state_dict()[k], start[k].to(tuned[k].device)) for k in start)
    # without an `eval_on_start` entry in the log the zero-shot classifier is evaluated: the same score
    trainer.model.load_state_dict(tuned)
    logged, trainer.state.log_history = trainer.state.log_history, []
    try:
        evaluated = zero_shot_candidate(trainer, start, {"eval_top1_accuracy": 1.5})
    finally:
        trainer.state.log_history = logged
    assert evaluated["selected"] == "fine-tuned" and evaluated["zero_shot"] == pytest.approx(selection["zero_shot"])
    assert all(torch.equal(trainer.model.state_dict()[k], tuned[k]) for k in tuned)
