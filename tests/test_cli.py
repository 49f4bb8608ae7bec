import subprocess
import sys

from innersight_widgets.cli import main


def test_demo_prints_layers_and_class_accuracy(capsys):
    assert main(["demo", "--model", "digits-cnn"]) == 0
    out = capsys.readouterr().out
    for layer, neurons in [("conv1", 16), ("conv2", 32), ("conv3", 64), ("fc1", 64), ("fc2", 10)]:
        assert any(line.split()[:1] == [layer] and f"{neurons} neurons" in line for line in out.splitlines())
    assert "accuracy: 0.99" in out
    assert sum(line.strip().startswith(tuple("0123456789")) for line in out.splitlines()) == 10


def test_python_dash_m_runs_the_embedded_default(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "innersight_widgets", "demo", "--cache-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    assert "model shapes-spurious-cnn" in done.stdout
    assert "layer3.conv2" in done.stdout
    assert "where colour agrees with shape" in done.stdout and "disagrees" in done.stdout
    assert list(tmp_path.glob("*.npz"))
