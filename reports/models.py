# Green reports, analytics and the audit export arrive with the Reports issue.
