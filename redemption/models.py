# Rewards, price schedules, redemptions and vouchers arrive with the Redemption issue.
