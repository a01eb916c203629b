"""robokit: a toolkit for robot learning from demonstrations and interaction."""

from setuptools import find_packages, setup

setup(
    name="robokit",
    version="0.1.0",
    description="Robot learning toolkit: imitation learning, offline and online RL, robomimic-compatible data.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["robokit", "robokit.*"]),
    package_data={"robokit.envs.tasks": ["assets/*.xml"]},  # MJCF models of robokit's own tasks
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.2",
        "numpy>=1.24",
        "h5py>=3.8",
        "tensorboardX>=2.6",
        "termcolor>=2.3",
        "imageio>=2.31",
        "imageio-ffmpeg>=0.4.9",
        "gymnasium>=1.0",
        "tqdm>=4.65",
    ],
    extras_require={
        # mujoco: 3.11.0 without the robosuite extra; 3.9.0 with it, the newest that robosuite 1.5.2 runs on (3.10 changed
        # mj_fullM, 3.11 dropped MjData.qM), and Fetch runs on both
        "sim": ["mujoco>=3.9.0,<=3.11.0", "gymnasium-robotics>=1.4"],
        # robomimic's own tasks (env_args type 1, robokit/envs/robosuite_env.py); robosuite's mink needs numpy<2.
        # `make setup-robosuite` builds .venv-robosuite with it; `make test` runs the robosuite tests there.
        # pyarrow (the lerobot and dev extras) 26 needs numpy 2; 25 is the newest that imports beside numpy 1.26
        "robosuite": ["robosuite==1.5.2", "mujoco==3.9.0", "pyarrow>=14,<26"],
        # SB3: tests/online_rl/test_sb3_equivalence.py; diffusers: tests/models/test_noise_schedulers.py (robokit's
        # DDPM / DDIM against diffusers' schedulers; robokit itself does not import it)
        "dev": ["pytest>=7.4", "ruff>=0.5", "stable-baselines3>=2.3", "diffusers>=0.30", "matplotlib>=3.7",
                "optuna>=4", "pytest-xdist>=3.5", "pyarrow>=14"],  # xdist: make test runs the suite on both cores;
        # pyarrow: tests/data/test_lerobot_format.py
        "plot": ["matplotlib>=3.7"],  # scripts/sweep.py's bar chart
        "sweep": ["optuna>=4"],  # scripts/sweep.py's "search" sweeps
        "bench": ["stable-baselines3>=2.3"],  # scripts/benchmark_online.py compares against it
        "lerobot": ["pyarrow>=14"],  # scripts/convert_dataset.py: LeRobot dataset folders (parquet) <-> robokit HDF5
    },
)
