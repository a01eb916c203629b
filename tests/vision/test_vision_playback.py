"""scripts/playback_dataset.py: states, actions and stored images into an MP4; bad input exits 2."""

import imageio
import pytest


def frames(path):
    reader = imageio.get_reader(str(path))
    try:
        return [frame for frame in reader]
    finally:
        reader.close()


def test_state_playback_renders_each_demo(push_image_dataset, tmp_path, vision_script):
    video = tmp_path / "states.mp4"
    out = vision_script("playback_dataset.py", "--dataset", push_image_dataset, "--video_path", video, "--n", "2",
                        "--camera_size", "64", "--video_skip", "1",
                        "--render_image_names", "default", "external_camera_0").stdout
    assert out.splitlines()[0].startswith("demo_0: ")
    video_frames = frames(video)
    assert video_frames[0].shape == (64, 128, 3)  # two cameras side by side
    n_steps = sum(int(line.split(": ")[1].split()[0]) for line in out.splitlines()[:2])
    assert len(video_frames) == n_steps


def test_state_playback_shows_depth_beside_the_image(push_image_dataset, tmp_path, vision_script):
    video = tmp_path / "depth.mp4"
    vision_script("playback_dataset.py", "--dataset", push_image_dataset, "--video_path", video, "--n", "1",
                  "--camera_size", "64", "--first", "--render_image_names", "external_camera_0",
                  "--render_depth_names", "external_camera_0")
    (frame,) = frames(video)
    assert frame.shape == (64, 128, 3)
    depth = frame[:, 64:].astype(int)
    assert abs(depth[..., 0] - depth[..., 2]).mean() < 2 and depth.std() > 5  # grey (codec chroma aside), not flat
    assert depth.mean() < 160  # the table is within about 1.5 m of the camera: darker than the 2.55 m white


def test_action_replay_reproduces_the_stored_states(push_image_dataset, tmp_path, vision_script):
    out = vision_script("playback_dataset.py", "--dataset", push_image_dataset, "--video_path",
                        tmp_path / "actions.mp4", "--use-actions", "--filter_key", "valid", "--camera_size", "32").stdout
    lines = [line for line in out.splitlines() if line.startswith("demo_")]
    assert len(lines) == 2
    for line in lines:
        assert "success True" in line
        assert float(line.rsplit(" ", 1)[1]) < 1e-6  # max |state - stored state|


def test_stored_image_playback_needs_no_simulator(push_image_dataset, tmp_path, vision_script):
    video = tmp_path / "obs.mp4"
    vision_script("playback_dataset.py", "--dataset", push_image_dataset, "--video_path", video, "--use-obs",
                  "--first", "--camera_size", "96")
    video_frames = frames(video)
    assert len(video_frames) == 6 and video_frames[0].shape == (96, 96, 3)  # 32 px enlarged 3x, one per demo


@pytest.mark.parametrize("args, message", [
    (["--use-obs", "--render_image_names", "nope"], "no image observation 'nope'; its image keys: external_camera_0"),
    (["--render_image_names", "nope"], "no camera named 'nope'"),
])
def test_bad_input_exits_2_with_one_line(push_image_dataset, tmp_path, vision_script, args, message):
    video = tmp_path / "bad.mp4"
    result = vision_script("playback_dataset.py", "--dataset", push_image_dataset, "--video_path", video, *args,
                           check=False)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not video.exists()
