"""YAML config -> CLI flags -> dataclasses."""

from dataclasses import dataclass, field

import pytest

from scl_trainer import SCLConfig
from scl_trainer.parser import ConfigArgumentParser
from tests.helpers import REPO_ROOT, load_recipe


@dataclass
class Script:
    dataset_name: str = field(default="mrpc", metadata={"help": "data"})
    flag: bool = field(default=False, metadata={"help": "a flag"})


def test_yaml_gives_defaults_and_flags_override(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "dataset_name: ccf_qa_match\nflag: true\nlearning_rate: 1e-5\nscl_weight: 0.3\nwarmup_steps: 0.1\n"
    )
    parser = ConfigArgumentParser((Script, SCLConfig))
    script, config = parser.parse_args_and_config(
        ["--config", str(path), "--scl_weight", "0.5", "--output_dir", str(tmp_path / "o")]
    )
    assert script.dataset_name == "ccf_qa_match" and script.flag is True
    assert config.learning_rate == 1e-5  # YAML reads 1e-5 as a string: converted with the field's type
    assert config.scl_weight == 0.5  # the flag wins
    assert config.warmup_steps == 0.1
    assert config.scl_temperature == 0.2  # dataclass default


def test_unknown_yaml_key_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("scl_wieght: 0.3\n")
    with pytest.raises(ValueError, match=r"typo\.yaml: unknown field\(s\) \['scl_wieght'\]"):
        ConfigArgumentParser((Script, SCLConfig)).parse_args_and_config(["--config", str(path)])


def test_invalid_value_from_yaml_is_validated(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("scl_temperature: 0\n")
    with pytest.raises(ValueError, match="scl_temperature must be > 0"):
        ConfigArgumentParser((Script, SCLConfig)).parse_args_and_config(["--config", str(path)])


@pytest.mark.parametrize("name", ["mrpc_minilm.yaml", "ccf_qa_match.yaml"])
def test_shipped_supcon_pair_configs_parse(name, tmp_path):
    recipe = load_recipe("supcon_pair")
    parser = ConfigArgumentParser((recipe.ScriptArguments, recipe.ModelArguments, SCLConfig))
    script, model, config = parser.parse_args_and_config(
        ["--config", str(REPO_ROOT / "recipes" / "supcon_pair" / name), "--output_dir", str(tmp_path)]
    )
    assert config.scl_weight == 0.1 and config.scl_temperature == 0.2
    assert config.load_best_model_at_end and config.metric_for_best_model == "f1_at_threshold"

    if name == "ccf_qa_match.yaml":  # the seed's optimisation setting
        assert config.learning_rate == 1e-5 and config.weight_decay == 0.1 and config.warmup_steps == 0.1
        assert config.lr_scheduler_type.value == "linear"
        assert script.predict_file == "ccf_qa_match"


def test_the_offline_default_pair_config_is_the_bi_encoder_the_evidence_picked(tmp_path):
    recipe = load_recipe("supcon_pair")
    parser = ConfigArgumentParser((recipe.ScriptArguments, recipe.ModelArguments, SCLConfig))
    config_file = REPO_ROOT / "recipes" / "supcon_pair" / "mrpc_minilm_bi_encoder.yaml"
    _, model, config = parser.parse_args_and_config(["--config", str(config_file), "--output_dir", str(tmp_path)])
    assert config.architecture == "bi_encoder" and config.metric_for_best_model == "roc_auc"
    assert (config.learning_rate, config.scl_weight, config.scl_temperature) == (2e-5, 1.0, 0.05)  # the evidence's
    assert "mrpc_minilm_bi_encoder.yaml" in (REPO_ROOT / "Makefile").read_text()  # what make demo runs


def test_config_equals_path_and_help_lists_config_and_own_fields_first(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("scl_weight: 0.3\n")
    parser = ConfigArgumentParser((Script, SCLConfig))
    _, config = parser.parse_args_and_config([f"--config={path}", "--output_dir", str(tmp_path / "o")])
    assert config.scl_weight == 0.3
    help_text = parser.format_help()
    order = [help_text.index(s) for s in ("--config YAML", "--dataset_name", "--scl_weight", "--learning_rate")]
    assert order == sorted(order), help_text[:2000]
    assert "[--config YAML] [--FIELD VALUE ...]" in help_text.splitlines()[0]


def test_any_parse_problem_is_a_one_line_config_error(tmp_path):
    from scl_trainer.errors import ConfigError

    parser = ConfigArgumentParser((Script, SCLConfig))
    for argv, message in [
        (["--scl_weight", "heavy"], "argument --scl_weight.*: invalid float value: 'heavy'"),
        (["--no_such_flag", "1"], "unknown flag --no_such_flag"),
        (["--eval_strategy", "steps", "--save_strategy", "epoch", "--load_best_model_at_end", "true"], "strategy"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parser.parse_args_and_config(["--output_dir", str(tmp_path / "o"), *argv])


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("scl_weight: 0.1\nscl_weight: 0.3\n", r"key 'scl_weight' is given twice \(line 2\)"),
        ("scl_weight: yes\n", r"scl_weight: True is a yes/no value, but scl_weight takes a number"),
        ("per_device_train_batch_size: 1.5\n", r"per_device_train_batch_size: 1.5 is not a whole number"),
        ("learning_rate: fast\n", r"learning_rate: 'fast' is not a number"),
        ("dataset_name: [a, b]\n", r"dataset_name: expected text, got a list"),
        ("lr_scheduler_type: sometimes\n", r"lr_scheduler_type: 'sometimes' is not one of"),
        ("scl_weight: [0.1\n", r"not valid YAML"),
    ],
)
def test_yaml_duplicate_keys_and_wrong_types_are_errors(tmp_path, yaml_text, message):
    from scl_trainer.errors import ConfigError

    path = tmp_path / "config.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message):
        ConfigArgumentParser((Script, SCLConfig)).parse_args_and_config(["--config", str(path)])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--scl_weight", "inf"], r"scl_weight must be finite"),
        (["--scl_temperature", "inf"], r"scl_temperature must be within \[0.0001, 100\], got inf"),
        (["--scl_temperature", "1e-30"], r"scl_temperature must be within \[0.0001, 100\], got 1e-30"),
        (["--learning_rate", "0"], r"learning_rate must be > 0, got 0.0"),
        (["--learning_rate", "nan"], r"learning_rate must be > 0, got nan"),
        (["--per_device_train_batch_size", "0"], r"per_device_train_batch_size must be >= 1, got 0"),
        (["--gradient_accumulation_steps", "0"], r"gradient_accumulation_steps must be >= 1, got 0"),
        (["--num_train_epochs", "0"], r"num_train_epochs must be > 0, got 0.0"),
        (["--max_steps", "0"], r"max_steps must be > 0 \(or -1"),
        (["--fp16", "true"], r"fp16 needs a CUDA GPU .* --bf16 true --use_cpu true"),
    ],
)
def test_settings_out_of_range_are_refused_while_parsing(tmp_path, flags, message):
    import torch

    from scl_trainer.errors import ConfigError

    if "--fp16" in flags and torch.cuda.is_available():
        pytest.skip("fp16 is valid with a GPU")
    with pytest.raises(ConfigError, match=message):
        ConfigArgumentParser((Script, SCLConfig)).parse_args_and_config(["--output_dir", str(tmp_path), *flags])


def test_simcse_temperature_range(tmp_path):
    from scl_trainer import SimCSEConfig
    from scl_trainer.errors import ConfigError

    for value in ("inf", "1e-30"):
        with pytest.raises(ConfigError, match=r"temperature must be within \[0.0001, 100\]"):
            ConfigArgumentParser(SimCSEConfig).parse_args_and_config(
                ["--output_dir", str(tmp_path), "--temperature", value]
            )


@pytest.mark.parametrize("value", ["true", "false"])
def test_a_yaml_yes_no_for_a_field_that_defaults_to_true(tmp_path, value):
    """HfArgumentParser adds `--no_refit_head` beside `--refit_head` for a bool that defaults to True: the YAML check
    reads the field's own flag, so `refit_head: true` is a yes/no for a yes/no field, not a type error."""
    path = tmp_path / "config.yaml"
    path.write_text(f"architecture: embedding\nrefit_head: {value}\nlabel_anchors: true\n")
    (config,) = ConfigArgumentParser((SCLConfig,)).parse_args_and_config(
        ["--config", str(path), "--output_dir", str(tmp_path / "o")]
    )
    assert config.refit_head is (value == "true") and config.label_anchors is True


@pytest.mark.parametrize("name", ["trec_minilm.yaml", "sst2_minilm.yaml", "cr_minilm.yaml", "subj_minilm.yaml",
                                  "sick_minilm.yaml", "own_minilm_embedding.yaml", "trec_minilm_cross_encoder.yaml",
                                  "sst2_minilm_cross_encoder.yaml", "cr_minilm_cross_encoder.yaml",
                                  "subj_minilm_cross_encoder.yaml"])  # fmt: skip
def test_shipped_supcon_classify_configs_parse(name, tmp_path):
    recipe = load_recipe("supcon_classify")
    script, _, config = recipe.parser().parse_args_and_config(
        ["--config", str(REPO_ROOT / "recipes" / "supcon_classify" / name), "--output_dir", str(tmp_path)]
    )
    two_classes = name.startswith(("sst2", "cr", "subj"))
    assert config.load_best_model_at_end
    assert config.metric_for_best_model == ("accuracy_at_0.5" if two_classes else "macro_f1")
    if name == "own_minilm_embedding.yaml":  # the evidence's emb_scl_anchors arm
        assert (config.architecture, config.scl_weight, config.scl_temperature) == ("embedding", 1.0, 0.1)
        assert config.views == 2 and config.label_anchors and config.refit_head and config.learning_rate == 5e-5


def test_the_dataset_classify_configs_take_the_arm_the_evidence_rule_chose(tmp_path):
    """`<dataset>_minilm.yaml` (TREC, SST-2, CR, SUBJ) is the arm `make classify-evidence`'s rule chose, with the
    settings its report records and the study's 64-per-class step budget and evaluation cadence; everything else
    (data, model, checkpoint metric) is the study's base config `<dataset>_minilm_cross_encoder.yaml`, which stays
    the cross-encoder so that the recorded runs stay valid (compare refuses a run whose --config changed)."""
    import json
    import sys

    sys.path.insert(0, str(REPO_ROOT / "bench"))
    try:
        import classify_evidence
    finally:
        sys.path.remove(str(REPO_ROOT / "bench"))
    rule = json.loads((REPO_ROOT / "bench" / "results" / "classify_evidence.json").read_text())["default_rule"]
    assert rule is not None, "every few-shot regime is in the report"
    settings = dict(item.split("=") for item in rule["settings"].split(","))
    parse = load_recipe("supcon_classify").parser().parse_args_and_config
    for dataset in ("trec", "sst2", "cr", "subj"):
        folder = REPO_ROOT / "recipes" / "supcon_classify"
        script, model, config = parse(
            ["--config", str(folder / f"{dataset}_minilm.yaml"), "--output_dir", str(tmp_path)]
        )
        for key, value in settings.items():
            got = getattr(config, key)
            same = str(got).lower() == value.lower() if isinstance(got, (bool, str)) else float(got) == float(value)
            assert same, f"{dataset}_minilm.yaml: {key}={got}, the chosen arm {rule['chosen']} has {value}"
        steps = classify_evidence.EMB_STEPS[64]
        assert (config.max_steps, config.eval_steps, config.save_steps) == (steps, steps // 2, steps // 2)
        base_script, base_model, base = parse(
            ["--config", str(REPO_ROOT / classify_evidence.study_config(dataset)), "--output_dir", str(tmp_path)]
        )
        assert base.architecture == "cross_encoder" and config.architecture == "embedding"
        assert (script.dataset_name, script.validation_size) == (base_script.dataset_name, base_script.validation_size)
        assert model.model_name_or_path == base_model.model_name_or_path
        assert config.metric_for_best_model == base.metric_for_best_model  # what the study's runs chose by


def test_a_config_is_the_default_of_one_parse_only(tmp_path):
    """One parser, two configs: the second parse never inherits the first config's values (compare and the tests
    parse many runs with one parser)."""
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("dataset_name: ccf_qa_match\nflag: true\nscl_weight: 0.7\n")
    second.write_text("learning_rate: 1e-5\n")
    parser = ConfigArgumentParser((Script, SCLConfig))
    out = ["--output_dir", str(tmp_path / "o")]
    script, config = parser.parse_args_and_config(["--config", str(first), *out])
    assert (script.dataset_name, script.flag, config.scl_weight) == ("ccf_qa_match", True, 0.7)
    script, config = parser.parse_args_and_config(["--config", str(second), *out])
    assert (script.dataset_name, script.flag, config.scl_weight) == ("mrpc", False, SCLConfig.scl_weight)
    assert config.learning_rate == 1e-5
    script, config = parser.parse_args_and_config(out)
    assert config.learning_rate == SCLConfig.learning_rate
