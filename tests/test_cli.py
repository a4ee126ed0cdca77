"""The `veille` command as an analyst uses it: help everywhere, formats, exit codes, sources add, init."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import rss, rss_item, write_config
from watch.cli import main

REPO = Path(__file__).resolve().parents[1]


def all_commands(group: click.Group = main, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("path", [p for p, _ in all_commands()], ids=" ".join)
def test_every_command_has_help_with_an_example_and_is_in_the_readme(path):
    result = run(*path, "--help")
    assert result.exit_code == 0
    command = dict(all_commands())[path]
    if not isinstance(command, click.Group):
        assert "veille " + " ".join(path) in result.output, "help needs an example of the command itself"
    assert "veille " + " ".join(path) in (REPO / "README.md").read_text(encoding="utf-8"), "document it in README.md"


def test_python_dash_m_watch_is_the_same_command():
    out = subprocess.run([sys.executable, "-m", "watch", "--help"], capture_output=True, text=True, check=True)
    assert "collect" in out.stdout and "Usage: veille" in out.stdout


@pytest.fixture
def configured(server, tmp_path):
    server.add("/a.xml", rss(rss_item(1, "Veloce rachète Rouléo"), rss_item(2, "Hausse des prix du VAE")))
    server.add("/b.xml", rss(rss_item(3, "Cargo bikes rise", link="http://example.org/articles/3?utm_source=x"),
                             language="en"))
    return write_config(tmp_path, [{"id": "a", "url": server.url("/a.xml")}, {"id": "b", "url": server.url("/b.xml")}])


def test_collect_then_items_in_every_format(configured):
    result = run("--config", str(configured), "collect", "--no-classify", "--format", "json")
    assert result.exit_code == 0, result.output
    outcomes = json.loads(result.stdout)
    assert {o["source"]: o["new"] for o in outcomes} == {"a": 2, "b": 1}

    items = json.loads(run("--config", str(configured), "items", "--format", "json").stdout)
    assert len(items) == 3
    assert set(items[0]) >= {"id", "source", "sources", "url", "canonical_url", "title", "summary", "text", "lang",
                             "author", "published_at", "published_estimated", "fetched_at", "first_seen", "origin", "hash"}
    lines = run("--config", str(configured), "items", "--format", "jsonl", "--search", "rachete").stdout.splitlines()
    assert [json.loads(line)["title"] for line in lines] == ["Veloce rachète Rouléo"]
    rows = list(csv.DictReader(io.StringIO(run("--config", str(configured), "items", "--format", "csv",
                                               "--source", "b").stdout)))
    assert [r["canonical_url"] for r in rows] == ["http://example.org/articles/3"]
    table = run("--config", str(configured), "items", "--since", "7d").stdout
    assert "Veloce rachète Rouléo" in table


def test_collect_exit_code_is_1_when_a_source_fails(server, tmp_path):
    server.add("/ok.xml", rss(rss_item(1)))
    server.add("/broken.xml", "oops", status=500, content_type="text/plain")
    config = write_config(tmp_path, [{"id": "ok", "url": server.url("/ok.xml")},
                                     {"id": "broken", "url": server.url("/broken.xml")}])
    result = run("--config", str(config), "collect", "--format", "json")
    assert result.exit_code == 1
    outcome = {o["source"]: o for o in json.loads(result.stdout)}
    assert outcome["ok"]["new"] == 1 and "HTTP 500" in outcome["broken"]["problem"]


def test_usage_errors_exit_2_without_traceback(configured, tmp_path):
    result = run("--config", str(configured), "collect", "--source", "aa")
    assert result.exit_code == 2 and "'a'" in result.stderr and "Traceback" not in result.output
    result = run("--config", str(configured), "items", "--since", "yesterday")
    assert result.exit_code == 2 and "7d" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("company: {name: X}\nsources:\n  - {id: s, name: S, url: 'http://x.example', reliabilty: A}\n")
    result = run("--config", str(bad), "sources", "check")
    assert result.exit_code == 2 and "bad.yaml:3" in result.stderr and "reliability" in result.stderr
    result = run("--config", str(tmp_path / "missing.yaml"), "collect")
    assert result.exit_code == 2 and "veille init" in result.stderr


def test_english_when_veille_lang_says_so(configured):
    result = run("--config", str(configured), "collect", "--source", "zz", env={"VEILLE_LANG": "en"})
    assert "unknown source" in result.stderr


def test_sources_check_and_list(configured):
    result = run("--config", str(configured), "sources", "check")
    assert result.exit_code == 0 and "2 sources" in result.stdout
    run("--config", str(configured), "collect")
    listed = json.loads(run("--config", str(configured), "sources", "list", "--format", "json").stdout)
    assert {s["id"]: s["items"] for s in listed} == {"a": 2, "b": 1}


def test_sources_reset_brings_back_a_gone_source(server, tmp_path):
    server.add("/gone.xml", "", status=410, content_type="text/plain")
    config = write_config(tmp_path, [{"id": "gone", "url": server.url("/gone.xml")}])
    run("--config", str(config), "collect")
    second = json.loads(run("--config", str(config), "collect", "--format", "json").stdout)
    assert second[0]["outcome"] == "skipped" and "reset" in second[0]["problem"]
    assert server.routes["/gone.xml"].hits == 1
    assert run("--config", str(config), "sources", "reset", "gone").exit_code == 0
    run("--config", str(config), "collect")
    assert server.routes["/gone.xml"].hits == 2
    assert run("--config", str(config), "sources", "reset", "nope").exit_code == 2


def test_sources_add_finds_the_feed_of_a_page_and_keeps_comments(server, tmp_path):
    feed = server.add("/blog/feed.xml", rss(rss_item(1, "Billet"), title="Le blog vélo", language="fr"))
    server.add("/blog/", '<html><head><link rel="alternate" type="application/rss+xml" href="/blog/feed.xml">'
               "</head><body>Blog</body></html>", content_type="text/html")
    config = write_config(tmp_path, [{"id": "a", "url": server.url("/a.xml")}],
                          extra="# --- audiences ---\naudiences: []\n")
    text = config.read_text().replace("sources:", "# mes sources, à garder\nsources:")
    config.write_text(text)
    result = run("--config", str(config), "sources", "add", server.url("/blog/"), "--type", "blog", "--theme", "t1")
    assert result.exit_code == 0, result.output
    updated = config.read_text()
    assert "# mes sources, à garder" in updated and "# --- audiences ---" in updated
    data = yaml.safe_load(updated)
    added = data["sources"][-1]
    assert added["url"] == feed and added["id"] == "le-blog-velo" and added["type"] == "blog"
    assert added["themes"] == ["t1"] and data["audiences"] == []
    assert run("--config", str(config), "sources", "check").exit_code == 0
    again = run("--config", str(config), "sources", "add", feed)
    assert yaml.safe_load(config.read_text())["sources"][-1]["id"] == "le-blog-velo-2", again.output


def test_sources_add_reports_a_page_without_feed(server, tmp_path):
    server.add("/plain/", "<html><body>nothing here</body></html>", content_type="text/html")
    config = write_config(tmp_path, [])
    before = config.read_text()
    result = run("--config", str(config), "sources", "add", server.url("/plain/"))
    assert result.exit_code == 1 and "aucun flux" in result.stderr
    assert config.read_text() == before


def test_init_writes_a_valid_starter_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "ma-veille"
    assert run("init", str(target)).exit_code == 0
    assert run("--config", str(target / "sources.yaml"), "sources", "check").exit_code == 0
    result = run("init", str(target))
    assert result.exit_code == 2 and "--force" in result.stderr
