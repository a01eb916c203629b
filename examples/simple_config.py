"""Configs: build one, change it, save it, load it back, and see what a mistake looks like.

    python examples/simple_config.py
"""

import tempfile
from pathlib import Path

from robokit.config import apply_overrides, config_factory, load_config
from robokit.errors import ConfigError


def main() -> None:
    # defaults of an algorithm, with robomimic's section and key names
    config = config_factory("bc")
    print("default BC batch size:", config.train.batch_size, "| actor layers:", config.algo.actor_layer_dims)

    # turn the MLP policy into BC-RNN-GMM: attribute assignment, or command-line style overrides
    config.algo.rnn.enabled = True
    apply_overrides(config, ["algo.gmm.enabled=true", "train.seq_length=10", "algo.rnn.horizon=10",
                             "observation.modalities.obs.low_dim=[\"observation\", \"desired_goal\"]"])
    config.validate()
    print("rnn:", config.algo.rnn.enabled, "| gmm modes:", config.algo.gmm.num_modes,
          "| obs keys:", config.all_obs_keys)

    # a JSON file is the whole truth about a run: dump and reload give the same config
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bc_rnn_gmm.json"
        config.dump(path)
        reloaded = load_config(path)
        assert reloaded.to_dict() == config.to_dict()
        print(f"saved and reloaded {path.name}: identical")

    # strictness: a typo is an error that names the key and the nearest valid one
    try:
        apply_overrides(config, ["train.batch_sise=64"])
    except ConfigError as err:
        print("typo caught:", err)


if __name__ == "__main__":
    main()
