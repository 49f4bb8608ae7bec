import subprocess
import sys

from innersight_widgets.cli import main


def test_demo_prints_layers_and_class_accuracy(capsys):
    assert main(["demo", "--model", "digits-cnn", "--draws", "5"]) == 0
    out = capsys.readouterr().out
    for layer, neurons in [("conv1", 16), ("conv2", 32), ("conv3", 64), ("fc1", 64), ("fc2", 10)]:
        assert any(line.split()[:1] == [layer] and f"{neurons} neurons" in line for line in out.splitlines())
    accuracy_block = out.split("accuracy: ")[1].split("\n\n")[0].splitlines()
    assert accuracy_block[0].startswith("0.99")
    assert [line.split()[0] for line in accuracy_block[1:]] == [str(d) for d in range(10)]
    community_rows = out.split("drop   null      p\n")[1].strip().splitlines()
    assert "communities of relu2" in out and len(community_rows) >= 2
    assert all(len(row.split()) >= 6 and 0 < float(row.split()[-1]) <= 1 for row in community_rows)


def test_python_dash_m_runs_the_embedded_default(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "innersight_widgets", "demo", "--cache-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    assert "model shapes-spurious-cnn" in done.stdout
    assert "layer3.conv2" in done.stdout
    assert "where colour agrees with shape" in done.stdout and "disagrees" in done.stdout
    assert "communities of layer2" in done.stdout and "colour=" in done.stdout
    assert list(tmp_path.glob("pass-*/meta.json"))
