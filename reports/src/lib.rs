//! CSV rows, SVG plots and HTML/Markdown summaries of adcheck runs. Filled in
//! by the verify and bench issues.
