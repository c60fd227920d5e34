"""The deterministic demo scenario: a fictional mission ("Xandia") with a true, learnable signal.

Why this exists: ``earlywarn demo`` must exercise the real pipeline end to end
(the same readers real ACLED, DTM, HXL, GeoPackage and GeoTIFF files go
through), and the threat model's backtest must have something *true* to find,
so that its skill is evidence the model works rather than fitted noise. This
docstring states that truth, so analysts and reviewers know what a good model
should recover and what it cannot.

Geography (``geography.py``). A ~280 x 280 km area centred near 7.5 N,
29.5 E, split into ``n_admin2`` admin-2 polygons (Lloyd-relaxed Voronoi cells
clipped to the outline, re-noded into an exact coverage) grouped into up to 8
admin-1 regions by k-means; P-codes run north to south (XM01.., XM0101..).
Population is a ~1 km GeoTIFF: a smooth, lumpy rural background plus a
gaussian blob per town (~13 towns, Zipf-sized, capital ~300,000), 3.6-4.4
million people in total. Events are reported at named settlements (each
area's towns and ~7 villages, chosen by population), as ACLED codes events to
a gazetteer location.

The true process (``conflict.py``), per admin-2 unit i and week t:

* Four armed groups (state forces, two rebel groups, a communal militia) each
  exert influence that decays as a gaussian of distance from a zone centre;
  centres drift slowly (tens of km over the period) and strengths wax and
  wane. With p1, p2 the two largest influence shares at i,
  ``F_it = (4 p1 p2)^2`` is the *frontline intensity*: 1 where two groups are
  evenly matched, ~0 deep inside one zone or far from all of them.
* Season ``s_t = 1 - 0.45 * rain(t)`` (rains peak mid-August) damps
  everything except protests.
* Clashes (ACLED "Battles"), self-exciting in space and time:
  ``lambda_c = s_t (0.9 F^1.5 + 0.07 (Hc_i + 0.12 sum_{j~i} Hc_j))`` where
  ``Hc`` is the count of past clashes decayed by 0.55 a week. Branching ratio
  ~0.3 (sub-critical: no runaway).
* Violence against civilians (attacks 68 %, abductions 20 %, sexual violence
  12 %): ``lambda_v = s_t (0.035 (0.1 + F) sqrt(pop_i / mean pop)
  + 0.14 (Hk_i + 0.05 sum_{j~i} Hk_j) + 0.08 Hv_i + 0.02 log1p(IDP_i / 3000))``
  where ``Hk`` is the clash history on a slower kernel (0.75 a week: clashes
  raise VAC risk for several weeks, here and in *neighbouring* areas), ``Hv``
  past VAC (0.5 a week). So a place's risk over the next weeks is predictable
  from its own and its neighbours' recent clashes and VAC, its displaced
  population, and (through clashes) its nearness to a frontline; the counts
  are Poisson draws, so it is never certain.
* Displacement: each week the IDP stock decays by 2.5 % (returns) and gains
  ~600 people per VAC event and ~250 per clash (lognormal noise), 40 % staying
  in the area and 60 % spread over its neighbours. DTM reports the stock
  monthly with ~8 % noise.
* Other events: remote violence (a share of the clash rate plus a frontline
  term; 25 % hit civilians), aid-worker attacks and looting/access denial
  (driven by frontlines, IDPs and recent clashes), protests and riots (urban,
  raised by recent VAC), strategic developments (bases, territory transfers).
  Fatalities: many zeros, a lognormal body and a heavy tail.

What each source saw (``scenario.py``). ACLED records ~90 % of true events
(fewer access incidents and sexual violence). The mission's log re-reports a
share of events within 1.3 x a base's patrol radius (same day, GPS fix within
~3 km, its own vocabulary and death counts: cross-source dedupe has real
work), plus patrol movement restrictions nobody else records. Bases sit in
towns chosen away from the final half-year's hotspots, so some of the most
violent areas are outside every patrol radius.

What the mission did (``actions.py``). During the record UNMIX deploys
temporary operating bases for six months each, in violent places no
permanent base's log reaches, listed in ``actions_hxl.csv``. While one
stands, attacks in the localities it reaches fall by 40% and ACLED records
20% more of them (0.7 -> 0.84 of its usual probability there): reported
attacks change by 0.6 x 1.2 = 0.72, -28%, the figure ``earlywarn impact``
must recover, and nothing in the reported data can tell -40% from +20%.

Determinism: one seed, split into independent streams per stage; files are
byte-identical across runs (pinned GeoPackage timestamp, no GeoTIFF
date tags, fixed float formatting, '\\n' line ends).
"""

from earlywarn.synth.scenario import generate_scenario

__all__ = ["generate_scenario"]
