"""Plan and run migrate, rollback, baseline and repair; report status and history."""
