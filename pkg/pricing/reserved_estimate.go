package pricing

// ReservedSavingEstimate is the share of the on-demand price a 1-year,
// standard, no-upfront regional Reserved Instance saves for the general
// purpose and burstable families wtt launches (m5.large: $0.096 on demand,
// $0.060 effective; t3.micro: $0.0104, $0.0065 — us-east-1 Linux list
// prices, 2025). `review` uses it to say what an unreserved baseline costs
// a year without making a pricing call; `wtt plan --to=reserved` prices the
// real offering.
const ReservedSavingEstimate = 0.375

// HoursPerYear is 365 days of an always-on instance.
const HoursPerYear = 8760
