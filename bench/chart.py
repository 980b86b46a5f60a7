#!/usr/bin/python3
"""placeholder replaced in the next commit"""
import sys
sys.exit(0)
