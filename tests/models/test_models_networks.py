"""Network shape paths and properties: encoder leading dims, causal transformer, heads, VAE, RNN state."""

import torch

from robokit.models import GMMHead, ObservationEncoder
from robokit.models.mlp import MLP
from robokit.models.policy_nets import ObsGoalEncoder
from robokit.models.rnn import RNNTrunk
from robokit.models.transformer import TransformerTrunk
from robokit.models.vae import ActionVAE


def test_encoder_restores_leading_dims_and_concatenates_in_key_order():
    enc = ObservationEncoder({"b": (2,), "a": (3, 2)})
    out = enc({"a": torch.ones(4, 7, 3, 2), "b": torch.zeros(4, 7, 2)})
    assert out.shape == (4, 7, 8) and enc.output_dim == 8
    assert torch.equal(out[..., :6], torch.ones(4, 7, 6))  # "a" first (sorted), flattened


def test_goal_features_are_broadcast_over_time():
    enc = ObsGoalEncoder({"o": (3,)}, {"g": (2,)})
    out = enc({"o": torch.zeros(5, 4, 3)}, {"g": torch.arange(10.0).reshape(5, 2)})
    assert out.shape == (5, 4, 5)
    assert torch.equal(out[:, 2, 3:], torch.arange(10.0).reshape(5, 2))


def test_causal_transformer_output_at_t_ignores_later_steps():
    torch.manual_seed(0)
    trunk = TransformerTrunk(6, context_length=5, embed_dim=16, num_layers=2, num_heads=2, emb_dropout=0.0,
                             attn_dropout=0.0, block_output_dropout=0.0).eval()
    x = torch.randn(2, 5, 6)
    changed = x.clone()
    changed[:, 3:] += 10.0
    torch.testing.assert_close(trunk(x)[:, :3], trunk(changed)[:, :3])
    assert not torch.allclose(trunk(x)[:, 3:], trunk(changed)[:, 3:])


def test_gmm_head_low_noise_at_evaluation():
    head = GMMHead(8, ac_dim=3, num_modes=4)
    features = torch.randn(6, 8)
    assert head(features).sample().shape == (6, 3)
    head.eval()
    means = torch.tanh(head.means(features)).reshape(6, 4, 3)  # (B, M, A)
    samples = torch.stack([head(features).sample() for _ in range(20)])  # (20, B, A)
    distance_to_nearest_mode = (samples[:, :, None] - means[None]).norm(dim=-1).min(-1).values  # (20, B)
    assert distance_to_nearest_mode.max() < 1e-2  # each sample sits on one mode's mean


def test_vae_reconstruction_and_kl_shapes():
    vae = ActionVAE(cond_dim=5, ac_dim=3, latent_dim=2, encoder_layer_dims=[16], decoder_layer_dims=[16],
                    prior_layer_dims=[16], prior_learn=True, prior_is_conditioned=True)
    recon, kl = vae(torch.randn(7, 5), torch.rand(7, 3) * 2 - 1)
    assert recon.shape == (7, 3) and kl.shape == (7,) and (kl >= 0).all()
    assert vae.sample(torch.randn(7, 5)).abs().max() <= 1.0


def test_rnn_state_carries_between_calls():
    rnn = RNNTrunk(4, hidden_dim=8, num_layers=2, rnn_type="GRU")
    x = torch.randn(3, 6, 4)
    whole, _ = rnn(x)
    first, state = rnn(x[:, :2])
    rest, _ = rnn(x[:, 2:], state)
    torch.testing.assert_close(torch.cat([first, rest], 1), whole)


def test_mlp_in_place_relu_gives_the_plain_values_and_gradients():
    """Hidden ReLUs overwrite their Linear's output; values and gradients must be those of relu(x @ W.T + b)."""
    torch.manual_seed(0)
    mlp = MLP(3, 2, [8, 8], activation="relu", dropout=0.0)
    x = torch.randn(5, 3, requires_grad=True)
    x_before = x.detach().clone()
    out = mlp(x)
    out.square().sum().backward()
    linears = [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    params = [p for layer in linears for p in (layer.weight, layer.bias)]
    grads = [p.grad.clone() for p in params] + [x.grad.clone()]
    h = x
    for layer in linears[:-1]:
        h = torch.relu(h @ layer.weight.T + layer.bias)
    expected = h @ linears[-1].weight.T + linears[-1].bias
    torch.testing.assert_close(out, expected)
    reference = torch.autograd.grad(expected.square().sum(), params + [x])
    for got, want in zip(grads, reference, strict=True):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(x.detach(), x_before)  # the input is never overwritten
    assert (linears[0](x) < 0).any()  # the ReLU did cut some units off
