"""The periodic crawl service (docs/scheduler.md).

Entry points: `scheduler.service.run_service(config_path, database_url) -> exit status` (what
`newsarchive scheduler run` calls) and `scheduler.schedule.load_schedule(path) -> [JobSpec]`,
raising `ScheduleError` with a one-line message.
"""
