"""scripts/validate_algo.py and robokit.train.validate: every built-in offline algorithm passes the checklist on
tiny networks; deliberately broken plugins fail the checks that describe their defect."""

import pytest

from plugin_source import PLUGIN
from script_runner import assert_one_line_error, run_script
from robokit.algo.plugins import load_algo_module
from robokit.train.validate import offline_algo_names, validate_algo

#: tiny networks for every built-in offline algorithm (the checklist's speed is the networks' size)
TINY = {
    "act": ["algo.chunk_size=4", "algo.dim_model=16", "algo.n_heads=2", "algo.dim_feedforward=32",
            "algo.n_encoder_layers=1", "algo.n_decoder_layers=1", "algo.n_vae_encoder_layers=1", "algo.latent_dim=4"],
    "bc": ["algo.actor_layer_dims=[16]"],
    "bcq": ["algo.critic.layer_dims=[16]", "algo.action_sampler.actor_layer_dims=[16]",
            "algo.action_sampler.vae.encoder_layer_dims=[16]", "algo.action_sampler.vae.decoder_layer_dims=[16]",
            "algo.action_sampler.vae.prior_layer_dims=[16]", "algo.actor.layer_dims=[16]"],
    "cql": ["algo.actor.layer_dims=[16]", "algo.critic.layer_dims=[16]"],
    "diffusion_policy": ["algo.unet.down_dims=[16,32]", "algo.unet.diffusion_step_embed_dim=8", "algo.unet.n_groups=4",
                         "algo.ddpm.num_train_timesteps=4", "algo.ddpm.num_inference_timesteps=4"],
    "gl": ["algo.ae.planner_layer_dims=[16]", "algo.vae.encoder_layer_dims=[16]", "algo.vae.decoder_layer_dims=[16]",
           "algo.vae.prior_layer_dims=[16]"],
    "hbc": ["algo.actor.actor_layer_dims=[16]", "algo.actor.rnn.hidden_dim=16", "algo.actor.rnn.num_layers=1",
            "algo.planner.ae.planner_layer_dims=[16]", "algo.planner.vae.encoder_layer_dims=[16]",
            "algo.planner.vae.decoder_layer_dims=[16]", "algo.planner.vae.prior_layer_dims=[16]"],
    "iql": ["algo.actor.layer_dims=[16]", "algo.critic.layer_dims=[16]"],
    "iris": ["algo.actor.actor_layer_dims=[16]", "algo.actor.rnn.hidden_dim=16", "algo.actor.rnn.num_layers=1",
             "algo.value_planner.planner.ae.planner_layer_dims=[16]",
             "algo.value_planner.planner.vae.encoder_layer_dims=[16]",
             "algo.value_planner.planner.vae.decoder_layer_dims=[16]",
             "algo.value_planner.planner.vae.prior_layer_dims=[16]", "algo.value_planner.value.critic.layer_dims=[16]",
             "algo.value_planner.value.action_sampler.actor_layer_dims=[16]",
             "algo.value_planner.value.action_sampler.vae.encoder_layer_dims=[16]",
             "algo.value_planner.value.action_sampler.vae.decoder_layer_dims=[16]",
             "algo.value_planner.value.action_sampler.vae.prior_layer_dims=[16]",
             "algo.value_planner.value.actor.layer_dims=[16]", "algo.value_planner.num_samples=4",
             "algo.value_planner.value.critic.num_action_samples=2"],
    "td3_bc": ["algo.critic.layer_dims=[16]", "algo.actor.layer_dims=[16]"],
}
CHECKS = ["config loads", "every field has help", "networks build", "losses finite", "no NaN gradient",
          "every parameter trains", "get_action shapes", "deterministic in eval mode", "serialize round trip",
          "checkpoint weights_only", "overfits a few samples"]


def test_every_offline_algorithm_has_tiny_settings():
    assert sorted(TINY) == offline_algo_names()  # a new built-in algorithm gets a line here, and is validated


@pytest.mark.parametrize("name", sorted(TINY))
def test_builtin_algorithm_passes(name, one_torch_thread):
    results = validate_algo(name, overrides=TINY[name])
    assert [r.line() for r in results if not r.passed] == []
    names = [r.name for r in results]
    assert names == (CHECKS if name != "gl" else [c if c != "get_action shapes" else "subgoal shapes" for c in CHECKS])


BROKEN = {
    # a parameter no loss uses
    "unused": (("self.encoder, self.head = encoder, MLP(encoder.output_dim, ac_dim, hidden)",
                ("self.encoder, self.head = encoder, MLP(encoder.output_dim, ac_dim, hidden)\n"
                 "        self.forgotten = torch.nn.Parameter(torch.zeros(3))")),
               {"every parameter trains": "policy.forgotten"}),
    # a loss that is NaN
    "nan": (("loss = F.mse_loss(self.nets[\"policy\"](batch[K.OBS]), batch[K.ACTIONS])",
             "loss = F.mse_loss(self.nets[\"policy\"](batch[K.OBS]), batch[K.ACTIONS]) * float(\"nan\")"),
            {"losses finite": "policy loss is nan", "overfits a few samples": "nan"}),
    # unseeded noise at evaluation time
    "noisy": (("return self.nets[\"policy\"](obs_dict)  # (B, A)",
               ("import numpy as np\n            out = self.nets[\"policy\"](obs_dict)\n"
                "            return out + torch.from_numpy(np.random.randn(*out.shape)).float()")),
              {"deterministic in eval mode": "same seed differ"}),
    # an action of the wrong size
    "shape": (("return self.nets[\"policy\"](obs_dict)  # (B, A)", "return self.nets[\"policy\"](obs_dict)[:, :1]"),
              {"get_action shapes": "expected (8, 3)"}),
}


@pytest.mark.parametrize("defect", sorted(BROKEN))
def test_broken_plugin_fails_the_right_checks(defect, tmp_path, clean_registries, one_torch_thread):
    (old, new), expected = BROKEN[defect]
    assert old in PLUGIN
    path = tmp_path / f"broken_{defect}.py"
    path.write_text(PLUGIN.replace("@name@", f"broken_{defect}").replace(old, new))
    load_algo_module(path)
    results = {r.name: r for r in validate_algo(f"broken_{defect}", overfit_steps=20)}
    failed = {name for name, r in results.items() if not r.passed}
    assert set(expected) <= failed, [r.line() for r in results.values()]
    for name, fragment in expected.items():
        assert fragment in results[name].line() and "fix:" in results[name].line()
    assert results["config loads"].passed and results["networks build"].passed


def test_validate_script_exit_codes(tmp_path):
    ok = run_script("validate_algo.py", "--algo", "bc", "--set", *TINY["bc"], "--overfit_steps", "20", check=True)
    lines = ok.stdout.strip().splitlines()
    assert len(lines) == len(CHECKS) + 1 and all(line.startswith("PASS") for line in lines[:-1])
    assert lines[-1] == f"{len(CHECKS)}/{len(CHECKS)} checks passed"

    broken = tmp_path / "frozen_algo.py"
    old, new = BROKEN["unused"][0]
    broken.write_text(PLUGIN.replace("@name@", "frozen_algo").replace(old, new))
    failed = run_script("validate_algo.py", "--algo", "frozen_algo", "--algo_module", broken, "--overfit_steps", "10")
    assert failed.returncode == 1, failed.stderr
    assert "FAIL  every parameter trains" in failed.stdout and "policy.forgotten" in failed.stdout
    assert failed.stdout.strip().splitlines()[-1].endswith("failed: every parameter trains")

    assert_one_line_error(run_script("validate_algo.py", "--algo", "nope"), "unknown algo name 'nope'")
    assert_one_line_error(run_script("validate_algo.py", "--algo", "sac"), "sac learns online")


def test_validate_on_a_real_dataset(tmp_path, one_torch_thread):
    from robokit.train.validate import write_synthetic_dataset

    dataset = write_synthetic_dataset(tmp_path / "real.hdf5", {"joints": (7,), "cube": (3,)}, n_demos=3, length=10)
    results = validate_algo("bc", dataset_path=dataset, overfit_steps=20, overrides=[
        *TINY["bc"], 'observation.modalities.obs.low_dim=["joints", "cube"]'])
    assert [r.line() for r in results if not r.passed] == []
    assert "real.hdf5 data" in next(r.detail for r in results if r.name == "networks build")
