//! `--warn PERCENT` and `--warn-hook PROGRAM`: a warning stage above the SIGTERM line
//! (earlyoom #355, #342, #54). When available memory first falls to PERCENT, the daemon
//! says once which process it would kill and how far memory is from the SIGTERM line; with
//! `-n` as a desktop notification (the same D-Bus call as earlyoom's kill notices), and
//! `--warn-hook` runs with the would-be victim in `-N`'s environment. Nothing is killed.
//!
//! An episode starts when available memory reaches the warning line and ends only once it
//! is back above the line by [`MARGIN_PERCENT`] points, so memory hovering at the line
//! warns once, not on every poll. The pure part is [`Episodes::step`].

/// Points above the warning line available memory must climb back to end an episode.
pub const MARGIN_PERCENT: f64 = 2.0;

/// The episode state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episodes {
    pub line: f64,
    active: bool,
}

impl Episodes {
    pub fn new(line: f64) -> Episodes {
        Episodes {
            line,
            active: false,
        }
    }

    /// Available memory is `avail_percent`: true when this starts an episode (warn now).
    pub fn step(&mut self, avail_percent: f64) -> bool {
        if self.active {
            if avail_percent > self.line + MARGIN_PERCENT {
                self.active = false;
            }
            false
        } else if avail_percent <= self.line {
            self.active = true;
            true
        } else {
            false
        }
    }

    pub fn active(&self) -> bool {
        self.active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory falls through the line, hovers, climbs back a little, falls again: one
    /// warning; then it recovers past the margin and falls again: a second one.
    #[test]
    fn one_warning_per_episode() {
        let mut e = Episodes::new(15.0);
        let seq = [30.0, 20.0, 15.0, 14.0, 15.5, 16.9, 13.0, 17.1, 16.0, 14.9];
        let warned: Vec<bool> = seq.iter().map(|&a| e.step(a)).collect();
        assert_eq!(
            warned,
            [false, false, true, false, false, false, false, false, false, true]
        );
    }
}
