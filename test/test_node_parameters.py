"""The node's parameters as a ROS user meets them: types, run-time changes, namespaces, params files."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
from model_files import write_model
from node_harness import RELIABLE, START_NS, image, node_exit, node_process, scene
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_util import call_idempotent, ros_node, spin_until
from sensor_msgs.msg import Image

from r3d_msgs.msg import AnticipatedAction

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model(tmp_path_factory.mktemp("param_model") / "model.safetensors")


def first_line_naming(output: str, name: str) -> str:
    lines = [line for line in output.splitlines() if f"'{name}'" in line]
    assert lines, output
    assert "Traceback" not in output, output
    return lines[0]


def test_an_integer_for_a_double_parameter_stops_startup_naming_it(model_file: Path, tmp_path: Path) -> None:
    status, output = node_exit(model_file, tmp_path, publish_rate_hz="5")
    assert status == 2
    assert "must be a double" in first_line_naming(output, "publish_rate_hz")


def test_a_word_for_a_boolean_parameter_stops_startup_naming_it(model_file: Path, tmp_path: Path) -> None:
    status, output = node_exit(model_file, tmp_path, autostart="maybe")
    assert status == 2
    assert "must be a bool" in first_line_naming(output, "autostart")


def test_an_invalid_topic_name_stops_startup_naming_it(model_file: Path, tmp_path: Path) -> None:
    status, output = node_exit(model_file, tmp_path, color_topic="'bad topic!'")
    assert status == 2
    assert "invalid topic name" in first_line_naming(output, "color_topic")


class Client:
    """Plays frames to a node (possibly namespaced) and sets its parameters."""

    def __init__(self, node, executor, prefix: str = "", node_name: str = "/r3d_anticipation") -> None:
        self.node, self.executor = node, executor
        self.color = node.create_publisher(Image, f"{prefix}/test_camera/color/image_raw", RELIABLE)
        self.depth = node.create_publisher(Image, f"{prefix}/test_camera/depth/image_raw", RELIABLE)
        self.actions: list[AnticipatedAction] = []
        node.create_subscription(AnticipatedAction, f"{prefix}/anticipated_action", self.actions.append, RELIABLE)
        self.set_client = node.create_client(SetParameters, f"{node_name}/set_parameters")
        ready = lambda: self.color.get_subscription_count() > 0 and self.depth.get_subscription_count() > 0  # noqa: E731
        assert spin_until(executor, ready, 20.0), "node never subscribed"

    def play(self, count: int, start_ns: int = START_NS) -> None:
        for i, (color, depth) in enumerate(scene(count)):
            ns = start_ns + round(i * 1e9 / 30)
            self.color.publish(image(ns, color, "rgb8"))
            self.depth.publish(image(ns, depth, "16UC1"))
            spin_until(self.executor, lambda: False, 1 / 30)
        spin_until(self.executor, lambda: False, 1.0)

    def set(self, name: str, value: ParameterValue):
        request = SetParameters.Request(parameters=[Parameter(name=name, value=value)])
        response = call_idempotent(self.executor, self.set_client, request, 30.0)
        assert response is not None, f"no reply to setting {name!r}"
        return response.results[0]


def string(value: str) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)


def double(value: float) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)


TOPICS = {"color_topic": "test_camera/color/image_raw", "depth_topic": "test_camera/depth/image_raw"}


def test_a_live_parameter_takes_effect_at_run_time(model_file: Path, tmp_path: Path) -> None:
    with node_process(model_file, tmp_path / "cache", **TOPICS), ros_node("param_client") as (node, executor):
        client = Client(node, executor)
        client.play(15)
        assert client.actions and client.actions[-1].header.frame_id == "test_color_optical_frame"
        assert client.set("frame_id", string("robot_head")).successful
        client.play(15, start_ns=START_NS + 10**9)
        assert client.actions[-1].header.frame_id == "robot_head"


def test_a_lower_publish_rate_set_at_run_time_lowers_the_output_rate(model_file: Path, tmp_path: Path) -> None:
    with node_process(model_file, tmp_path / "cache", **TOPICS), ros_node("rate_client") as (node, executor):
        client = Client(node, executor)
        assert client.set("publish_rate_hz", double(2.0)).successful
        client.play(60)
        assert 3 <= len(client.actions) <= 5, len(client.actions)  # 2 s of stream at 2 Hz


def test_a_configure_time_parameter_is_refused_while_active_with_the_reason(model_file: Path, tmp_path: Path) -> None:
    with node_process(model_file, tmp_path / "cache", **TOPICS), ros_node("ro_client") as (node, executor):
        result = Client(node, executor).set("sync_policy", string("exact"))
        assert not result.successful and "read on configure" in result.reason


def test_an_out_of_range_value_is_refused_at_run_time_naming_the_parameter(model_file: Path, tmp_path: Path) -> None:
    with node_process(model_file, tmp_path / "cache", **TOPICS), ros_node("range_client") as (node, executor):
        result = Client(node, executor).set("min_confidence", double(3.0))
        assert not result.successful and "min_confidence" in result.reason


def test_a_negative_depth_noise_limit_but_minus_one_is_refused_naming_it(model_file: Path, tmp_path: Path) -> None:
    with node_process(model_file, tmp_path / "cache", **TOPICS), ros_node("limit_client") as (node, executor):
        client = Client(node, executor)
        refused = client.set("max_depth_noise", double(-0.5))
        assert not refused.successful and "max_depth_noise" in refused.reason
        assert client.set("max_depth_noise", double(0.02)).successful


def test_a_namespace_moves_inputs_and_outputs_and_the_active_line_shows_them(model_file: Path, tmp_path: Path) -> None:
    args = ("-r", "__ns:=/robot1")
    with node_process(model_file, tmp_path / "cache", ros_args=args, **TOPICS) as process, ros_node("ns") as (n, ex):
        client = Client(n, ex, prefix="/robot1", node_name="/robot1/r3d_anticipation")
        client.play(15)
        assert client.actions
    active = next(line for line in process.log_lines if "active: input" in line)
    assert "/robot1/test_camera/color/image_raw" in active and "/robot1/anticipated_action" in active


def test_a_params_file_with_the_wildcard_key_applies_in_any_namespace(model_file: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text('/**:\n  ros__parameters:\n    frame_id: "from_file"\n')
    args = ("-r", "__ns:=/robot2", "--params-file", str(params))
    with node_process(model_file, tmp_path / "cache", ros_args=args, **TOPICS), ros_node("pf") as (node, executor):
        client = Client(node, executor, prefix="/robot2", node_name="/robot2/r3d_anticipation")
        client.play(10)
        assert client.actions and client.actions[-1].header.frame_id == "from_file"


def test_a_standard_qos_override_from_a_params_file_takes_effect(model_file: Path, tmp_path: Path) -> None:
    from rclpy.qos import ReliabilityPolicy

    params = tmp_path / "params.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n    qos_overrides:\n      /test_camera/color/image_raw:\n"
        "        subscription:\n          reliability: reliable\n          depth: 3\n"
    )
    args = ("--params-file", str(params))
    parameters = {**TOPICS, "qos_reliability": "best_effort"}
    with node_process(model_file, tmp_path / "cache", ros_args=args, **parameters), ros_node("qos") as (node, executor):

        def infos(topic: str):
            return [i for i in node.get_subscriptions_info_by_topic(topic) if i.node_name == "r3d_anticipation"]

        assert spin_until(executor, lambda: bool(infos("/test_camera/color/image_raw")), 10.0)
        assert spin_until(executor, lambda: bool(infos("/test_camera/depth/image_raw")), 10.0)
        color, depth = infos("/test_camera/color/image_raw")[0], infos("/test_camera/depth/image_raw")[0]
        assert color.qos_profile.reliability == ReliabilityPolicy.RELIABLE  # (history depth is not discovered)
        assert depth.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT  # the shorthand still applies


def test_onnx_providers_are_a_parameter_and_the_one_that_runs_is_logged(model_file: Path, tmp_path: Path) -> None:
    providers = "['CUDAExecutionProvider', 'CPUExecutionProvider']"
    with node_process(model_file, tmp_path / "cache", onnx_providers=providers, **TOPICS) as process:
        pass
    log = "".join(process.log_lines)
    assert "CUDAExecutionProvider not available here" in log
    assert "on onnxruntime (CPUExecutionProvider)" in log


def test_an_unknown_onnx_provider_stops_startup_naming_the_parameter(model_file: Path, tmp_path: Path) -> None:
    status, output = node_exit(model_file, tmp_path, onnx_providers="['GPU']")
    assert status == 2 and "onnx_providers" in output
