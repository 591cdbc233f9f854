//! The paired A/B of the two syscall loops the targets are set on (open+close, TCP connect): no
//! sensor, the floor and ferret alternated every few seconds for many rounds, and ferret's added
//! cost against the floor's taken from per-round differences.
//!
//! Why a second measurement: the main rounds run each setup through minutes of mixed workloads
//! (a release build among them), so two setups' loops are timed minutes apart, and the host's
//! drift over minutes moves a loop by more than the floor adds to it. Here one setup's loops are
//! timed seconds after the other's, and the spread of the estimate is shown (bootstrap interval
//! over the rounds), so a reader sees how sure the figure is.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::setups::{Active, Setup};
use super::workloads;

/// The setups alternated, in this order rotated by one each round.
const SETUPS: [Setup; 3] = [Setup::Off, Setup::Floor, Setup::Ferret];

/// Resamples of the rounds for the bootstrap interval.
const RESAMPLES: usize = 2000;

/// How much each loop does per measurement.
pub struct Loops<'a> {
    pub opens: usize,
    pub connects: usize,
    pub plain: &'a Path,
    pub listener: &'a TcpListener,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// ferret's added cost over the floor's: the median of ferret's per-round differences to no
/// sensor over the median of the floor's. A floor that adds nothing (or less) gives infinity:
/// no ratio bounds ferret's cost then.
fn ratio_of(fl: &[f64], fe: &[f64]) -> f64 {
    let floor = median(&mut fl.to_vec());
    if floor > 0.0 {
        median(&mut fe.to_vec()) / floor
    } else {
        f64::INFINITY
    }
}

/// 5th and 95th percentile of the ratio over resamples of whole rounds (each resample keeps a
/// round's floor and ferret figures together). Seeded, so one run's report is reproducible.
fn bootstrap(fl: &[f64], fe: &[f64]) -> (f64, f64) {
    let n = fl.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = fastrand::Rng::with_seed(0x5eed_f3e7);
    let mut ratios = Vec::with_capacity(RESAMPLES);
    let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
    for _ in 0..RESAMPLES {
        for k in 0..n {
            let i = rng.usize(..n);
            a[k] = fl[i];
            b[k] = fe[i];
        }
        ratios.push(ratio_of(&a, &b));
    }
    // Resamples whose floor adds nothing rank last (infinity), so they widen the interval
    // rather than drop out of it.
    ratios.sort_by(|x, y| x.total_cmp(y));
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    (at(0.05), at(0.95))
}

/// Runs the rounds and returns the report's section (markdown).
pub fn run(ferret: &Path, dir: &Path, rounds: usize, loops: &Loops) -> Result<String> {
    // ns per operation: [setup][loop][round].
    let mut ns: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); 2]; SETUPS.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..SETUPS.len()).collect();
        order.rotate_left(round % SETUPS.len());
        for &i in &order {
            let active = Active::start(SETUPS[i], ferret, dir)?;
            // Past ferret's start-up work (its /proc seeding ends within Active's own settle).
            std::thread::sleep(Duration::from_millis(700));
            let open = workloads::open_loop(loops.opens, loops.plain)?;
            let connect = workloads::connect_loop(loops.connects, loops.listener)?;
            active.stop()?;
            eprintln!(
                "paired round {} {:<26} open+close {open:.0}  TCP connect {connect:.0}",
                round + 1,
                SETUPS[i].name()
            );
            ns[i][0].push(open);
            ns[i][1].push(connect);
        }
    }

    let mut r = format!(
        "\nPaired A/B of the targeted loops: {rounds} rounds, each running no sensor, the floor and ferret (default rules) in rotated order, a few seconds apart; per measurement {} open+close and {} TCP connect+accept+close, fastest of ten slices as above. Added cost = the setup's time minus no sensor's in the same round; median over the rounds; the ratio's interval is the 5th-95th percentile over {RESAMPLES} resamples of the rounds:\n\n| loop | no sensor ns | floor adds ns | ferret adds ns | ferret's added cost / the floor's | 90% interval |\n|---|---|---|---|---|---|\n",
        loops.opens, loops.connects
    );
    for (l, name) in ["open+close", "TCP connect"].iter().enumerate() {
        let off = &ns[0][l];
        let fl: Vec<f64> = ns[1][l].iter().zip(off).map(|(s, o)| s - o).collect();
        let fe: Vec<f64> = ns[2][l].iter().zip(off).map(|(s, o)| s - o).collect();
        let off_med = median(&mut off.clone());
        let (fl_med, fe_med) = (median(&mut fl.clone()), median(&mut fe.clone()));
        let pct = |v: f64| 100.0 * v / off_med;
        let (ratio, interval) = if fl_med > 0.0 {
            let (lo, hi) = bootstrap(&fl, &fe);
            (format!("{:.2}x", fe_med / fl_med), format!("{lo:.2}-{hi:.2}"))
        } else {
            ("floor adds nothing measurable".to_string(), "-".to_string())
        };
        r.push_str(&format!(
            "| {name} | {off_med:.0} | {fl_med:+.0} ({:+.1}%) | {fe_med:+.0} ({:+.1}%) | {ratio} | {interval} |\n",
            pct(fl_med),
            pct(fe_med)
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_is_of_medians_and_its_interval_holds_it() {
        let fl = [4.0, 5.0, 3.0, 4.0, 6.0, 4.0, 5.0];
        let fe = [6.0, 7.0, 5.0, 6.0, 9.0, 6.0, 8.0];
        assert_eq!(ratio_of(&fl, &fe), 6.0 / 4.0);
        let (lo, hi) = bootstrap(&fl, &fe);
        assert!(lo <= 1.5 && 1.5 <= hi, "{lo}-{hi}");
        assert!(lo > 1.0 && hi < 3.0, "{lo}-{hi}");
    }

    #[test]
    fn a_floor_that_adds_nothing_leaves_the_ratio_unbounded() {
        let fl = [0.0, -1.0, 0.0, 2.0, -3.0];
        let fe = [5.0, 6.0, 5.0, 7.0, 4.0];
        assert_eq!(ratio_of(&fl, &fe), f64::INFINITY);
        assert_eq!(bootstrap(&fl, &fe).1, f64::INFINITY);
    }

    #[test]
    fn an_even_count_takes_the_middle_pair() {
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
