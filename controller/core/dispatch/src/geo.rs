//! Distances and drive times between places, without a road network: the
//! great-circle distance (haversine, mean Earth radius 6,371,008.8 m) times
//! a road factor (roads are longer than the straight line: 1.3 is a common
//! rural figure), at an average speed. The shell may ask a road-network
//! service instead when the operator configures one.
//!
//! Distances are whole metres and times whole seconds (rounded up), so
//! sums are exact.

use serde::{Deserialize, Serialize};

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A place, in degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    /// A point, or `None` for a latitude outside ±90, a longitude outside
    /// ±180, or a value that is not a number.
    pub fn new(lat: f64, lon: f64) -> Option<Point> {
        (lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0).then_some(Point { lat, lon })
    }
}

/// The great-circle distance in metres (rounded).
pub fn great_circle_m(a: Point, b: Point) -> i64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = p2 - p1;
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    let c = 2.0 * h.sqrt().min(1.0).asin();
    (EARTH_RADIUS_M * c).round() as i64
}

/// How driving is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Driving {
    /// Road length over straight-line length (at least 1).
    pub road_factor: f64,
    /// Average speed, km/h (more than 0).
    pub speed_kmh: f64,
}

impl Default for Driving {
    fn default() -> Self {
        Driving { road_factor: 1.3, speed_kmh: 50.0 }
    }
}

impl Driving {
    /// The estimate, or `None` for a factor under 1 or a speed not above 0.
    pub fn new(road_factor: f64, speed_kmh: f64) -> Option<Driving> {
        (road_factor.is_finite() && road_factor >= 1.0 && speed_kmh.is_finite() && speed_kmh > 0.0)
            .then_some(Driving { road_factor, speed_kmh })
    }

    /// Road metres between two places.
    pub fn road_m(&self, a: Point, b: Point) -> i64 {
        (great_circle_m(a, b) as f64 * self.road_factor).round() as i64
    }

    /// Seconds of driving between two places (rounded up).
    pub fn drive_s(&self, a: Point, b: Point) -> i64 {
        let m = self.road_m(a, b) as f64;
        (m / (self.speed_kmh / 3.6)).ceil() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_distances() {
        // One degree of latitude is about 111.2 km.
        let a = Point::new(45.0, -93.0).unwrap();
        let b = Point::new(46.0, -93.0).unwrap();
        assert!((111_100..111_300).contains(&great_circle_m(a, b)), "{}", great_circle_m(a, b));
        // Paris - London, about 344 km.
        let paris = Point::new(48.8566, 2.3522).unwrap();
        let london = Point::new(51.5074, -0.1278).unwrap();
        assert!((343_000..345_000).contains(&great_circle_m(paris, london)));
        let d = Driving::default();
        assert_eq!(d.road_m(a, b), (great_circle_m(a, b) as f64 * 1.3).round() as i64);
        // 144.6 km at 50 km/h: about 2 h 53 min.
        assert!((10_380..10_440).contains(&d.drive_s(a, b)), "{}", d.drive_s(a, b));
        assert!(Point::new(91.0, 0.0).is_none() && Point::new(0.0, f64::NAN).is_none());
        assert!(Driving::new(0.9, 50.0).is_none() && Driving::new(1.2, 0.0).is_none());
    }

    fn point() -> impl Strategy<Value = Point> {
        (-90.0f64..=90.0, -180.0f64..=180.0).prop_map(|(lat, lon)| Point::new(lat, lon).unwrap())
    }

    proptest! {
        /// A distance: zero to itself, symmetric, never more than half the
        /// circumference, and the triangle inequality (within rounding).
        #[test]
        fn distances_are_a_metric(a in point(), b in point(), c in point()) {
            prop_assert_eq!(great_circle_m(a, a), 0);
            prop_assert_eq!(great_circle_m(a, b), great_circle_m(b, a));
            prop_assert!(great_circle_m(a, b) <= (std::f64::consts::PI * EARTH_RADIUS_M).round() as i64);
            prop_assert!(great_circle_m(a, c) <= great_circle_m(a, b) + great_circle_m(b, c) + 2);
            let d = Driving::default();
            prop_assert!(d.road_m(a, b) >= great_circle_m(a, b));
            prop_assert!(d.drive_s(a, b) >= 0);
        }
    }
}
