"""The examples run as a user would run them, and their policies act."""

from pathlib import Path

from script_runner import run_script

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_simple_config():
    result = run_script(str(EXAMPLES / "simple_config.py"), check=True)
    assert "saved and reloaded bc_rnn_gmm.json: identical" in result.stdout
    assert "did you mean 'train.batch_size'" in result.stdout


def test_simple_train_loop(tmp_path):
    result = run_script(str(EXAMPLES / "simple_train_loop.py"), "--epochs", "2", "--steps", "30", "--rollouts", "3",
                        cwd=tmp_path, check=True)
    losses = [float(line.split("loss ")[1]) for line in result.stdout.splitlines() if line.startswith("epoch")]
    assert len(losses) == 2 and losses[1] < losses[0]
    assert "success rate" in result.stdout


def test_add_new_algo(tmp_path):
    result = run_script(str(EXAMPLES / "add_new_algo.py"), "--epochs", "2", "--steps", "30", cwd=tmp_path, check=True)
    assert "BCEnsemble: success rate" in result.stdout


def test_chunked_policy(tmp_path):
    result = run_script(str(EXAMPLES / "chunked_policy.py"), "--steps", "45", "--envs", "2", "--rollouts", "3",
                        cwd=tmp_path, check=True)
    out = result.stdout
    assert "data window: frame_stack=2, seq_length=8 (from algo.horizon)" in out
    losses = [float(line.split("loss ")[1].split(",")[0]) for line in out.splitlines() if line.startswith("step")]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert "EMA updates 45" in out and "re-plans every 4 steps per env" in out and "success rate" in out
