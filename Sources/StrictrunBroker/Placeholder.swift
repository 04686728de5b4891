/// Placeholder until the broker lands.
enum StrictrunBrokerPlaceholder {}
