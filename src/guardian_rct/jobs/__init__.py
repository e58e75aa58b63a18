"""The jobs the command line and cron scripts run: daily schedule, weekly compliance, milestone evaluation, demo."""
