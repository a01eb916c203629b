"""Read the scalars back out of tensorboardX event files (TFRecord framing of `Event` protos): what TensorBoard
would plot, for sweeps' result tables and tests, without installing TensorBoard."""

import struct
from collections import defaultdict
from pathlib import Path

from tensorboardX.proto import event_pb2


def read_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} of every events.out.tfevents.* file under `log_dir`, in file order; a last
    record still being written (a live run) is left out."""
    scalars = defaultdict(list)
    for path in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            if offset + 12 > len(data):  # a record that a running writer has not finished yet
                break
            (length,) = struct.unpack_from("<Q", data, offset)  # then a 4-byte CRC of the length
            if offset + 12 + length + 4 > len(data):
                break
            record = data[offset + 12: offset + 12 + length]  # then a 4-byte CRC of the record
            offset += 12 + length + 4
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                scalars[value.tag].append((event.step, value.simple_value))
    return dict(scalars)
