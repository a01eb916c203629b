"""Sections describing network parts that several algorithms share: policy heads, VAE, RNN, transformer.

Defaults are robomimic's BC defaults; another algorithm picks its own by passing a prototype, e.g.
`vae: VAEConfig = param(VAEConfig(enabled=True, latent_dim=...), "...")`.
"""

from typing import Literal

from robokit.config.section import Section, param
from robokit.errors import ConfigError

StdActivation = Literal["softplus", "exp"]


class GaussianConfig(Section):
    """Gaussian action distribution head."""

    enabled: bool = param(False, "output a Gaussian distribution over actions")
    fixed_std: bool = param(False, "keep the std at init_std instead of learning it")
    init_std: float = param(0.1, "initial (or fixed) standard deviation", minimum=0.0)
    min_std: float = param(0.01, "lower bound on the predicted std", minimum=0.0)
    std_activation: StdActivation = param("softplus", "activation that makes the std positive")
    low_noise_eval: bool = param(True, "use a tiny std (near-deterministic actions) at evaluation")


class GMMConfig(Section):
    """Gaussian-mixture action distribution head."""

    enabled: bool = param(False, "output a Gaussian mixture over actions")
    num_modes: int = param(5, "number of mixture components", minimum=1)
    min_std: float = param(0.0001, "lower bound on the predicted std", minimum=0.0)
    std_activation: StdActivation = param("softplus", "activation that makes the std positive")
    low_noise_eval: bool = param(True, "use a tiny std (near-deterministic actions) at evaluation")


class VAEDecoderConfig(Section):
    """VAE decoder."""

    is_conditioned: bool = param(True, "condition the decoder on the observation")
    reconstruction_sum_across_elements: bool = param(
        False, "sum the reconstruction loss over action dims instead of averaging"
    )


class VAEPriorConfig(Section):
    """VAE prior over the latent."""

    learn: bool = param(False, "learn a Gaussian / GMM prior instead of N(0, 1)")
    is_conditioned: bool = param(False, "condition the prior on the observation")
    use_gmm: bool = param(False, "use a GMM prior")
    gmm_num_modes: int = param(10, "GMM prior components", minimum=1)
    gmm_learn_weights: bool = param(False, "learn the GMM prior's component weights")
    use_categorical: bool = param(False, "use a categorical (Gumbel-softmax) prior")
    categorical_dim: int = param(10, "categorical classes per latent dimension", minimum=1)
    categorical_gumbel_softmax_hard: bool = param(False, "hard (straight-through) Gumbel-softmax samples")
    categorical_init_temp: float = param(1.0, "initial Gumbel-softmax temperature", minimum=0.0)
    categorical_temp_anneal_step: float = param(0.001, "temperature decrease per step", minimum=0.0)
    categorical_min_temp: float = param(0.3, "lowest Gumbel-softmax temperature", minimum=0.0)


class VAEConfig(Section):
    """Conditional VAE over actions."""

    enabled: bool = param(False, "model actions with a conditional VAE")
    latent_dim: int = param(14, "latent dimension (about twice the action dimension)", minimum=1)
    latent_clip: float | None = param(None, "clip latents to [-c, c] when decoding (null: no clipping)", minimum=0.0)
    kl_weight: float = param(1.0, "beta: weight of the KL term relative to reconstruction", minimum=0.0)
    decoder: VAEDecoderConfig = param(VAEDecoderConfig(), "decoder settings")
    prior: VAEPriorConfig = param(VAEPriorConfig(), "prior settings")
    encoder_layer_dims: list[int] = param([300, 400], "encoder MLP hidden sizes")
    decoder_layer_dims: list[int] = param([300, 400], "decoder MLP hidden sizes")
    prior_layer_dims: list[int] = param([300, 400], "prior MLP hidden sizes (learned conditioned prior)")


class RNNConfig(Section):
    """Recurrent policy trunk."""

    enabled: bool = param(False, "run a recurrent network over observation sequences")
    horizon: int = param(10, "unroll length in training; must equal train.seq_length", minimum=1)
    hidden_dim: int = param(400, "hidden state size", minimum=1)
    rnn_type: Literal["LSTM", "GRU"] = param("LSTM", "recurrent cell")
    num_layers: int = param(2, "stacked recurrent layers", minimum=1)
    open_loop: bool = param(False, "predict the action sequence from the first observation only")
    kwargs: dict = param({"bidirectional": False}, "extra keyword arguments of the torch RNN module")


class TransformerConfig(Section):
    """GPT-style transformer policy trunk over a window of observations."""

    enabled: bool = param(False, "run a transformer over the observation history")
    context_length: int = param(10, "observation steps in the context; must equal train.frame_stack", minimum=1)
    embed_dim: int = param(512, "token embedding size (a multiple of num_heads)", minimum=1)
    num_layers: int = param(6, "transformer blocks", minimum=1)
    num_heads: int = param(8, "attention heads per block", minimum=1)
    emb_dropout: float = param(0.1, "dropout on input embeddings", minimum=0.0, maximum=1.0)
    attn_dropout: float = param(0.1, "dropout on attention weights", minimum=0.0, maximum=1.0)
    block_output_dropout: float = param(0.1, "dropout on each block's output", minimum=0.0, maximum=1.0)
    sinusoidal_embedding: bool = param(False, "sin/cos position encodings instead of learned ones")
    activation: Literal["gelu", "relu"] = param("gelu", "activation of the blocks' MLPs")
    supervise_all_steps: bool = param(False, "supervise the action at every context step, not only the last")
    nn_parameter_for_timesteps: bool = param(
        True, "learned timestep embeddings as a parameter table (false: nn.Embedding)"
    )
    pred_future_acs: bool = param(False, "predict future actions instead of past ones at each step")
    causal: bool = param(True, "causal (masked) self-attention")

    def check(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ConfigError(
                f"{self.key_path('embed_dim')}={self.embed_dim} must be divisible by "
                f"{self.key_path('num_heads')}={self.num_heads}; change one of them"
            )
