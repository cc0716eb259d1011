"""Preloaded by the crash tests' fork server: parse the project once there, so every
forked child starts with the rule grammar already built (polars is left cold on
purpose: its thread pool must not exist in a process that forks)."""

from trade_desk import REPO

from kobe.project import load_project

load_project(REPO / "strategies.yaml")
