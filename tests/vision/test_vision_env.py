"""GymEnv camera observations: keys, dtypes, units, and the serialize() -> create_env() round trip."""

import numpy as np
import pytest

from robokit.envs import GymEnv, create_env
from robokit.errors import UserError


@pytest.fixture(scope="module")
def camera_env():
    env = GymEnv("FetchPush-v4", camera_names=["external_camera_0", "default"], camera_size=[24, 32],
                 camera_depth=True, obs_slices={"robot0_eef_pos": ["observation", 0, 3]})
    yield env
    env.close()


def test_camera_observations_are_uint8_hwc_and_in_the_space(camera_env):
    obs = camera_env.reset(seed=0)
    space = camera_env.observation_space
    for key, shape in [("external_camera_0_image", (24, 32, 3)), ("default_image", (24, 32, 3)),
                       ("external_camera_0_depth", (24, 32, 1)), ("default_depth", (24, 32, 1))]:
        assert obs[key].dtype == np.uint8 and obs[key].shape == shape
        assert space[key].shape == shape and space[key].dtype == np.uint8
        assert space.contains({k: obs[k] for k in space.spaces})
    assert obs["external_camera_0_image"].std() > 10  # a real picture, not a blank frame
    # depth is centimetres: the table under the camera is 0.5 - 2.55 m away
    assert 50 < np.median(obs["external_camera_0_depth"]) < 255
    np.testing.assert_array_equal(obs["robot0_eef_pos"], obs["observation"][:3])


def test_camera_observations_follow_the_simulation(camera_env):
    first = camera_env.reset(seed=0)["external_camera_0_image"]
    for _ in range(5):
        obs, *_ = camera_env.step(np.array([1.0, 0.0, 0.0, 0.0]))
    assert np.abs(obs["external_camera_0_image"].astype(int) - first).sum() > 0


def test_serialized_env_args_rebuild_the_same_observations(camera_env):
    env_args = camera_env.serialize()
    assert env_args["env_kwargs"] == {"camera_names": ["external_camera_0", "default"], "camera_size": [24, 32],
                                      "camera_depth": True, "obs_slices": {"robot0_eef_pos": ["observation", 0, 3]}}
    with create_env(env_args) as rebuilt:
        a, b = camera_env.reset(seed=4), rebuilt.reset(seed=4)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_set_state_returns_camera_observations(camera_env):
    camera_env.reset(seed=1)
    state = camera_env.get_state()
    before = camera_env.step(np.array([0.0, 1.0, 0.0, 0.0]))[0]
    camera_env.step(np.array([1.0, 1.0, 0.0, 0.0]))
    restored = camera_env.set_state(state)
    assert restored["external_camera_0_image"].shape == (24, 32, 3)
    assert not np.array_equal(restored["external_camera_0_image"], before["external_camera_0_image"])


@pytest.mark.parametrize("kwargs, message", [
    ({"camera_names": ["nope"]}, "has no camera 'nope'; its cameras: default, head_camera_rgb"),
    ({"camera_names": ["default"], "camera_size": 0}, "camera_size must be a positive int"),
    ({"obs_slices": {"x": ["observation", 0, 99]}}, "not a non-empty range inside 'observation' of size 25"),
    ({"obs_slices": {"x": ["nope", 0, 1]}}, "source 'nope' is not a flat observation key"),
])
def test_bad_camera_arguments_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        GymEnv("FetchPush-v4", **kwargs)
