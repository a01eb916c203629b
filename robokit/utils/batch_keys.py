"""Names of the entries of a training batch, shared by the data loaders and the algorithms.

A batch is a dict:
    OBS:       {obs_key: (B, T, ...)}   observations over the window [t - frame_stack + 1, t + seq_length)
    NEXT_OBS:  {obs_key: (B, T, ...)}   the observation after each step (when loaded)
    GOAL_OBS:  {obs_key: (B, ...)}      the episode's last observation (goal_mode="last")
    ACTIONS:   (B, T, A)
    REWARDS:   (B, T)
    DONES:     (B, T)
    PAD_MASK:  (B, T) bool              True where the step is real data, False where it is padding
    ACTION_MASK: (B, A) bool            True at action dims that are real for the sample's robot, False at
                                        the zero slots of a padded multi-robot layout (robokit.data.embodiment)
    OBS_MASK:  {obs_key: (B, D) bool}   the same for padded low-dim observations
Masks are present only when the data is padded to a multi-robot slot layout; losses ignore the False entries.
    OBS[LANG]: (B, T, V) float32        with language conditioning (observation.language.enabled): the episode's
                                        instruction as a bag of words over the run's vocabulary (robokit.data.language),
                                        the same at every step; an observation key like any other from here on
    DATASET_INDEX: (B,) int64           with several datasets in train.data: the dataset of each sample (an index
                                        into the MultiDataset's names and langs, robokit.data.multi_dataset)
"""

OBS = "obs"
NEXT_OBS = "next_obs"
GOAL_OBS = "goal_obs"
ACTIONS = "actions"
REWARDS = "rewards"
DONES = "dones"
PAD_MASK = "pad_mask"
ACTION_MASK = "action_mask"
OBS_MASK = "obs_mask"
DATASET_INDEX = "dataset_index"
LANG = "lang"
