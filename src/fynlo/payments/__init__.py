"""Taking money against orders: QR (open banking), cards and wallets (Stripe), UPI
(Razorpay), cash and gift cards; splits, tips, refunds, fees and settlement."""
