//! Outage correlation (pure core): placeholder, being written.
