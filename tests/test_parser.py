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
