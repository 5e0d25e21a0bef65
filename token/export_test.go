package token

// CanonicalContainer exposes canonicalContainer to the differential tests.
var CanonicalContainer = canonicalContainer
