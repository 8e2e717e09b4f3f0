// MobileOptimizer
