"""Stage review: a seeded, stratified review sample, and the reviewers' versioned decisions applied."""
