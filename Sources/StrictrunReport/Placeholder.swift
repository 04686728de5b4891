enum StrictrunReportPlaceholder {}
