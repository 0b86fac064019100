"""``fynlo scheduler``: kicks the periodic jobs (their ``schedule`` labels) into the queue.

Run one or several: dispatch and webhook delivery are safe to run side by side (one
dispatcher publishes at a time; deliveries are claimed row by row), and the hourly pruning
claims its slot in Redis.
"""

from __future__ import annotations

from taskiq import TaskiqScheduler
from taskiq.schedule_sources import LabelScheduleSource

import fynlo.jobs.tasks  # noqa: F401  (registers the jobs and their schedules)
from fynlo.jobs.broker import broker

scheduler = TaskiqScheduler(broker, [LabelScheduleSource(broker)])
