"""configs/ stays in sync with the config classes; robokit.config stays free of torch."""

import shutil
import subprocess
import sys
from pathlib import Path

from robokit.config import load_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
GENERATOR = REPO / "scripts" / "generate_configs.py"


def run_generator(*args):
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, cwd=REPO, check=False
    )


def test_committed_configs_match_generator(tmp_path):
    result = run_generator("--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    generated = {p.name: p.read_text() for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_text() for p in CONFIGS.glob("*.json")}
    assert {"bc.json", "bc_rnn.json", "bc_transformer.json"} <= set(generated)
    assert committed == generated, "configs/ drifted: run `python scripts/generate_configs.py`"


def test_check_mode_lists_drifted_files(tmp_path):
    shutil.copytree(CONFIGS, tmp_path, dirs_exist_ok=True)
    assert run_generator("--check", "--output-dir", str(tmp_path)).returncode == 0
    (tmp_path / "bc_rnn.json").write_text("{}\n")
    (tmp_path / "bc.json").unlink()
    (tmp_path / "old.json").write_text("{}\n")
    result = run_generator("--check", "--output-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path / 'bc_rnn.json'}: differs" in result.stdout
    assert f"{tmp_path / 'bc.json'}: missing" in result.stdout
    assert f"{tmp_path / 'old.json'}: not generated" in result.stdout


def test_variant_templates_have_their_settings():
    rnn = load_config(CONFIGS / "bc_rnn.json")
    assert rnn.algo.rnn.enabled and rnn.train.seq_length == rnn.algo.rnn.horizon == 10
    transformer = load_config(CONFIGS / "bc_transformer.json")
    assert transformer.algo.transformer.enabled and transformer.algo.gmm.enabled
    assert transformer.train.frame_stack == transformer.algo.transformer.context_length == 10


def test_config_package_does_not_import_torch():
    code = "import sys, robokit.config; assert 'torch' not in sys.modules, 'robokit.config imported torch'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
