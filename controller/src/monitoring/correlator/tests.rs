//! Tests of the outage correlator.

use super::*;
