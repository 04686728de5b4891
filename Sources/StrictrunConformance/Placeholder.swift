enum StrictrunConformancePlaceholder {}
