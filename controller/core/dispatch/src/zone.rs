//! Zones: polygons drawn on the map where a technician works. A point is
//! in a zone when it is inside the polygon or on its edge (ray casting over
//! latitude and longitude as plane coordinates: zones are a few kilometres
//! wide, far from the poles and the antimeridian).

use crate::geo::Point;
use serde::{Deserialize, Serialize};

/// A closed polygon: its corners in order (the last joins the first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Zone {
    pub corners: Vec<Point>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("a zone needs at least 3 corners")]
    TooFew,
    #[error("a zone has at most 500 corners")]
    TooMany,
    #[error("a zone's corners must not all lie on one line")]
    Flat,
}

impl Zone {
    /// A zone, or why these corners make none.
    pub fn new(corners: Vec<Point>) -> Result<Zone, ZoneError> {
        if corners.len() < 3 {
            return Err(ZoneError::TooFew);
        }
        if corners.len() > 500 {
            return Err(ZoneError::TooMany);
        }
        let z = Zone { corners };
        if z.area2() == 0.0 {
            return Err(ZoneError::Flat);
        }
        Ok(z)
    }

    /// Twice the signed area (shoelace), in square degrees.
    fn area2(&self) -> f64 {
        let c = &self.corners;
        (0..c.len())
            .map(|i| {
                let (a, b) = (c[i], c[(i + 1) % c.len()]);
                a.lon * b.lat - b.lon * a.lat
            })
            .sum()
    }

    /// Whether `p` is inside the zone or on its edge.
    pub fn contains(&self, p: Point) -> bool {
        let c = &self.corners;
        let mut inside = false;
        let mut j = c.len() - 1;
        for i in 0..c.len() {
            let (a, b) = (c[i], c[j]);
            if on_segment(a, b, p) {
                return true;
            }
            if (a.lat > p.lat) != (b.lat > p.lat) {
                let x = (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon;
                if p.lon < x {
                    inside = !inside;
                }
            }
            j = i;
        }
        inside
    }
}

fn on_segment(a: Point, b: Point, p: Point) -> bool {
    let cross = (b.lon - a.lon) * (p.lat - a.lat) - (b.lat - a.lat) * (p.lon - a.lon);
    cross.abs() <= 1e-12
        && p.lon >= a.lon.min(b.lon)
        && p.lon <= a.lon.max(b.lon)
        && p.lat >= a.lat.min(b.lat)
        && p.lat <= a.lat.max(b.lat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(lat: f64, lon: f64) -> Point {
        Point::new(lat, lon).unwrap()
    }

    #[test]
    fn squares_and_l_shapes() {
        let square = Zone::new(vec![p(45.0, -93.0), p(45.0, -92.0), p(46.0, -92.0), p(46.0, -93.0)]).unwrap();
        assert!(square.contains(p(45.5, -92.5)));
        assert!(square.contains(p(45.0, -92.5)), "on the edge");
        assert!(square.contains(p(46.0, -92.0)), "a corner");
        assert!(!square.contains(p(46.1, -92.5)) && !square.contains(p(45.5, -91.9)));
        // An L: the notch is outside.
        let l = Zone::new(vec![p(0.0, 0.0), p(0.0, 2.0), p(1.0, 2.0), p(1.0, 1.0), p(2.0, 1.0), p(2.0, 0.0)]).unwrap();
        assert!(l.contains(p(0.5, 1.5)) && l.contains(p(1.5, 0.5)));
        assert!(!l.contains(p(1.5, 1.5)), "the notch");
        // A diamond: points level with its side corners, inside and out
        // (a ray through a corner counts one crossing, not two).
        let diamond = Zone::new(vec![p(0.0, 1.0), p(1.0, 2.0), p(2.0, 1.0), p(1.0, 0.0)]).unwrap();
        assert!(diamond.contains(p(1.0, 1.0)) && diamond.contains(p(1.0, 1.5)) && diamond.contains(p(1.0, 0.5)));
        assert!(!diamond.contains(p(1.0, 3.0)) && !diamond.contains(p(1.0, -1.0)));
        assert!(!diamond.contains(p(0.0, 3.0)) && !diamond.contains(p(2.0, -1.0)));
        assert_eq!(Zone::new(vec![p(0.0, 0.0), p(1.0, 1.0)]), Err(ZoneError::TooFew));
        assert_eq!(Zone::new(vec![p(0.0, 0.0), p(1.0, 1.0), p(2.0, 2.0)]), Err(ZoneError::Flat));
    }

    proptest! {
        /// Against axis-aligned rectangles (where inside is obvious), in
        /// either winding, starting at any corner.
        #[test]
        fn rectangles_contain_what_is_between_their_sides(
            lat0 in -60.0f64..60.0, lon0 in -170.0f64..170.0, h in 0.01f64..5.0, w in 0.01f64..5.0,
            plat in -70.0f64..70.0, plon in -180.0f64..180.0, start in 0usize..4, reverse: bool,
        ) {
            let mut corners = vec![p(lat0, lon0), p(lat0, lon0 + w), p(lat0 + h, lon0 + w), p(lat0 + h, lon0)];
            corners.rotate_left(start);
            if reverse { corners.reverse(); }
            let z = Zone::new(corners).unwrap();
            let want = plat >= lat0 && plat <= lat0 + h && plon >= lon0 && plon <= lon0 + w;
            prop_assert_eq!(z.contains(p(plat, plon)), want);
        }
    }
}
